"""`python -m services.dispatch`: run the dispatch service."""

from backbone.runtime import run
from backbone.settings import load
from services.dispatch.bootstrap import build
from services.dispatch.settings import DispatchSettings

if __name__ == "__main__":
    run(build, load(DispatchSettings))  # type: ignore[arg-type]
