"""`python -m services.workbench`: run the staff workbench (民声工作台)."""

from backbone.runtime import run
from backbone.settings import load
from services.workbench.bootstrap import build
from services.workbench.settings import WorkbenchSettings

if __name__ == "__main__":
    run(build, load(WorkbenchSettings))  # type: ignore[arg-type]
