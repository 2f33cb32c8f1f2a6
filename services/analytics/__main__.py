"""`python -m services.analytics`: run the analytics service;
`python -m services.analytics rebuild [--file F | --check]`: rebuild it from the audit ledger."""

import sys

from backbone.runtime import run
from services.analytics.bootstrap import build
from services.analytics.settings import AnalyticsSettings

if __name__ == "__main__":
    if len(sys.argv) > 1:
        from services.analytics.entrypoints.cli import main

        sys.exit(main(sys.argv[1:]))
    run(build, AnalyticsSettings())  # type: ignore[arg-type]
