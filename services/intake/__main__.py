"""`python -m services.intake`: run the intake service."""

from backbone.runtime import run
from services.intake.bootstrap import build
from services.intake.settings import IntakeSettings

if __name__ == "__main__":
    run(build, IntakeSettings())  # type: ignore[arg-type]
