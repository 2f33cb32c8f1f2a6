"""`python -m services.analytics rebuild`: rebuild the facts and KPIs from zero from the audit
ledger (or a file of base64 envelopes), with a progress bar; `--check` writes nothing and
compares the ledger's KPI state with the one the service holds."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from psycopg_pool import ConnectionPool

from backbone.settings import load
from backbone.store import ensure_database, says_when_unreachable
from services.analytics.adapters.ledger import Entry, LedgerError, file_entries
from services.analytics.application import facts_version
from services.analytics.application.rebuild import (
    describe,
    fold_entries,
    ledger_history,
    rebuild,
    stored_state,
)
from services.analytics.entrypoints.consumer import CONSUMER
from services.analytics.settings import AnalyticsSettings


class ProgressBar:
    """A one-line progress bar on stderr (the ledger does not say its length: a spinner bar)."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width, self.start = stream, width, time.monotonic()

    def __call__(self, read: int, kept: int) -> None:
        elapsed = max(time.monotonic() - self.start, 1e-6)
        filled = (read // 500) % (self.width + 1)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\rrebuild [{bar}] {read} events read, {kept} facts, "
                          f"{read / elapsed:.0f} events/s")
        self.stream.flush()

    def done(self) -> None:
        self.stream.write("\n")


def _source(args: argparse.Namespace, settings: AnalyticsSettings) -> Iterable[Entry]:
    if args.file:
        return file_entries(Path(args.file))
    return ledger_history(settings, args.audit_url)


@says_when_unreachable
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.analytics")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("rebuild", help="rebuild facts and KPIs from the audit ledger")
    cmd.add_argument("--file", help="read base64 envelopes (one per line) instead of the ledger")
    cmd.add_argument("--audit-url", help="the audit service (default MINSHENG_AUDIT_URL)")
    cmd.add_argument("--check", action="store_true",
                     help="write nothing; compare the ledger's KPIs with the stored ones")
    args = parser.parse_args(argv)
    settings = load(AnalyticsSettings)
    bar = ProgressBar()
    try:
        if args.check:
            from_ledger = fold_entries(_source(args, settings), bar)
            bar.done()
            ensure_database(settings)
            with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
                stored = stored_state(pool, settings.schema)
            same = from_ledger.digest == stored.digest
            print(json.dumps({"ledger": describe(from_ledger), "stored": describe(stored),
                              "same": same}, ensure_ascii=False, indent=2))
            return 0 if same else 1
        ensure_database(settings)
        with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
            result = rebuild(pool, settings.schema, CONSUMER, _source(args, settings), bar)
            facts_version.create_table(pool, settings.schema)
            facts_version.mark(pool, settings.schema)  # the facts are this version's now
        bar.done()
    except LedgerError as exc:
        bar.done()
        print(f"rebuild stopped, nothing changed: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(describe(result), ensure_ascii=False, indent=2))
    return 0
