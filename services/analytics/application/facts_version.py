"""Which version of the normalisers made the facts table, and the rebuild an upgrade owes.

The facts are what the normalisers make of the audited events. When a version makes facts of
more events, or other facts of the same events (2b73f29: AssignmentWithdrawn became a
`withdrawn` fact, so a unit's completion counts tickets), the table an older version filled
lacks them: the events are long consumed, so the live consumer never makes them, and the KPIs
differ from a rebuild from the ledger. So the table records the version that filled it
(`facts_version`, one row, made at start), and a start over a table of an older version
rebuilds it from the audit ledger first (`rebuild`, one transaction), before the live state
loads and the consumer runs. Bump FACTS_VERSION with any such change of the normalisers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from services.analytics.application.rebuild import Entry, Rebuilt, rebuild

log = logging.getLogger(__name__)

# 1: the facts of every version before this table (no row); 2: `withdrawn` facts (2b73f29)
FACTS_VERSION = 2


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.facts_version ("
                         " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
                         " version integer NOT NULL,"
                         " built_at timestamptz NOT NULL DEFAULT now())")
                     .format(Identifier(schema)))


def stored(pool: ConnectionPool, schema: str) -> int | None:
    """The version that made the facts; None when there are no facts (nothing to redo);
    1 for facts made before versions were recorded."""
    s = Identifier(schema)
    with pool.connection() as conn:
        row = conn.execute(SQL("SELECT version FROM {}.facts_version").format(s)).fetchone()
        if row is not None:
            return int(row[0])
        any_fact = conn.execute(SQL("SELECT 1 FROM {}.facts LIMIT 1").format(s)).fetchone()
    return 1 if any_fact else None


def mark(pool: ConnectionPool, schema: str, version: int = FACTS_VERSION) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("INSERT INTO {}.facts_version (version) VALUES (%s)"
                         " ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version,"
                         " built_at = now()").format(Identifier(schema)), (version,))


def bring_up_to_date(pool: ConnectionPool, schema: str, consumer: str,
                     source: Callable[[], Iterable[Entry]], *, wait_s: float = 120.0,
                     retry_s: float = 2.0) -> Rebuilt | None:
    """Rebuild the facts from the ledger if an older version made them (then record this
    version); a fresh table is only marked. ``source`` opens the ledger's entries; while it
    fails (audit starting beside this service) it is retried for ``wait_s``. Returns the
    rebuild, or None when none was needed."""
    create_table(pool, schema)
    # replicas starting together: one rebuilds, the others wait, then find the version current
    with pool.connection() as lock:
        lock.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"{schema}.facts_version",))
        try:
            return _bring_up_to_date(pool, schema, consumer, source, wait_s, retry_s)
        finally:
            lock.execute("SELECT pg_advisory_unlock(hashtext(%s))",
                         (f"{schema}.facts_version",))


def _bring_up_to_date(pool: ConnectionPool, schema: str, consumer: str,
                      source: Callable[[], Iterable[Entry]], wait_s: float,
                      retry_s: float) -> Rebuilt | None:
    version = stored(pool, schema)
    if version is None or version >= FACTS_VERSION:
        if version is None:
            mark(pool, schema)
        return None
    log.warning("the facts were made by an older version (%s, this one makes version %s): "
                "rebuilding them from the audit ledger before consuming", version,
                FACTS_VERSION)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            result = rebuild(pool, schema, consumer, source())
            break
        except Exception as exc:  # audit not answering yet, or refused: the table is unchanged
            if time.monotonic() > deadline:
                raise
            log.warning("rebuild from the ledger failed (%s); retrying", exc)
            time.sleep(retry_s)
    mark(pool, schema)
    log.warning("facts rebuilt from the ledger: %s", describe_briefly(result))
    return result


def describe_briefly(result: Rebuilt) -> dict[str, Any]:
    return {"envelopes": result.envelopes, "facts": result.facts, "skipped": result.skipped}
