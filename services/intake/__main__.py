"""`python -m services.intake [all|api|projector]`: run the intake service, or one part of it.

Without an argument the role comes from MINSHENG_INTAKE_ROLE (default: all, one process).
"""

import sys

from backbone.runtime import run
from backbone.settings import load
from services.intake.bootstrap import build
from services.intake.settings import IntakeSettings

if __name__ == "__main__":
    role = {"intake_role": sys.argv[1]} if len(sys.argv) > 1 else {}
    run(build, load(IntakeSettings, **role))  # type: ignore[arg-type]
