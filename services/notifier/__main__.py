"""`python -m services.notifier`: run the notifier service."""

from backbone.runtime import run
from backbone.settings import load
from services.notifier.bootstrap import build
from services.notifier.settings import NotifierSettings

if __name__ == "__main__":
    run(build, load(NotifierSettings))  # type: ignore[arg-type]
