"""`python -m services.feedback`: run the feedback service."""

from backbone.runtime import run
from backbone.settings import load
from services.feedback.bootstrap import build
from services.feedback.settings import FeedbackSettings

if __name__ == "__main__":
    run(build, load(FeedbackSettings))  # type: ignore[arg-type]
