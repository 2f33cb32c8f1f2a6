"""`python -m services.analytics`: run the analytics service;
`python -m services.analytics rebuild [--file F | --check]`: rebuild it from the audit ledger;
with MINSHENG_ANALYTICS_ROLE=surges: run the surge worker (entrypoints/surges.py) instead,
its /healthz, /readyz and /metrics on MINSHENG_HTTP_PORT (deploy/local's PARTS give each role
process its own port)."""

import os
import sys

from backbone.runtime import run
from backbone.settings import load
from services.analytics.bootstrap import build
from services.analytics.settings import AnalyticsSettings

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from services.analytics.entrypoints.cli import main

        sys.exit(main(sys.argv[1:]))
    if os.environ.get("MINSHENG_ANALYTICS_ROLE") == "surges":
        from services.analytics.entrypoints import surges

        if "MINSHENG_HTTP_PORT" in os.environ:
            os.environ.setdefault("MINSHENG_SURGES_HTTP_PORT", os.environ["MINSHENG_HTTP_PORT"])
        surges.main()
    else:
        run(build, load(AnalyticsSettings))  # type: ignore[arg-type]
