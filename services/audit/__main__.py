"""`python -m services.audit`: run the audit service; `... verify`, `... reconcile`: the
operator's checks (see services/audit/entrypoints/cli.py)."""

import sys

from backbone.runtime import run
from backbone.settings import load
from services.audit.bootstrap import build
from services.audit.settings import AuditSettings

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from services.audit.entrypoints.cli import main

        sys.exit(main(sys.argv[1:]))
    run(build, load(AuditSettings))  # type: ignore[arg-type]
