"""`python -m services.notifier`: run the notifier service."""

from backbone.runtime import run
from services.notifier.bootstrap import build
from services.notifier.settings import NotifierSettings

if __name__ == "__main__":
    run(build, NotifierSettings())  # type: ignore[arg-type]
