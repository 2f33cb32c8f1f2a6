"""Rebuild analytics from zero from the lifecycle history (the audit ledger).

The facts table is replaced in ONE transaction (all or nothing): the old facts and the
consumer's progress are cleared, the ledger's events are normalised exactly as the live
consumer does it, and the KPI state is folded as it is folded live. After a rebuild the
consumer starts again from the beginning of the topic; facts it finds already there are
skipped (the facts table is keyed by event id), facts the ledger did not have yet are added.
Run it with the service stopped, or into a fresh schema (MINSHENG_PG_SCHEMA).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from services.analytics.adapters.fact_store import all_facts, create_tables, insert_facts
from services.analytics.application.normalise import UnusableFactError, fact_of
from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import LiveKpis
from services.analytics.domain.kpis import KpiModel

BATCH = 500
Progress = Callable[[int, int], None]  # (envelopes read, facts kept)


@dataclass(frozen=True)
class Rebuilt:
    envelopes: int
    facts: int
    skipped: int  # undecodable or unusable envelopes (the live consumer dead-letters them)
    digest: str
    kpis: LiveKpis


def state_digest(model: KpiModel) -> str:
    """A fingerprint of the whole KPI state: equal digests, equal figures everywhere."""
    text = json.dumps(model.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def fold_envelopes(envelopes: Iterable[bytes], progress: Progress | None = None,
                   keep: Callable[[list[Fact]], None] | None = None) -> Rebuilt:
    """Normalise and fold raw envelopes; `keep` receives each batch of facts."""
    kpis, batch, seen = LiveKpis(), [], set()
    read = kept = skipped = 0
    for raw in envelopes:
        read += 1
        try:
            fact = fact_of(events.decode(raw))
        except (events.EnvelopeError, UnusableFactError):
            skipped += 1
            continue
        if fact is not None and fact.event_id not in seen:
            seen.add(fact.event_id)
            batch.append(fact)
        if len(batch) >= BATCH:
            kept += _flush(kpis, batch, keep)
            batch = []
            if progress:
                progress(read, kept)
    kept += _flush(kpis, batch, keep)
    if progress:
        progress(read, kept)
    return Rebuilt(read, kept, skipped, state_digest(kpis.model), kpis)


def _flush(kpis: LiveKpis, batch: list[Fact], keep: Callable[[list[Fact]], None] | None) -> int:
    if batch:
        if keep:
            keep(batch)
        kpis.apply(batch)
    return len(batch)


def rebuild(pool: ConnectionPool, schema: str, consumer: str, envelopes: Iterable[bytes],
            progress: Progress | None = None) -> Rebuilt:
    """Replace the facts table with the history's facts, in one transaction."""
    create_tables(pool, schema)
    s = Identifier(schema)
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(SQL("TRUNCATE {}.facts RESTART IDENTITY").format(s))
        cur.execute(SQL("DELETE FROM {}.consumer_positions WHERE consumer = %s").format(s),
                    (consumer,))
        cur.execute(SQL("DELETE FROM {}.consumed_events WHERE consumer = %s").format(s),
                    (consumer,))
        return fold_envelopes(envelopes, progress, lambda facts: insert_facts(cur, schema, facts))


def stored_state(pool: ConnectionPool, schema: str) -> Rebuilt:
    """The KPI state folded from the facts table as it stands (what the live service holds)."""
    kpis = LiveKpis()
    n = 0
    for page in all_facts(pool, schema):
        n += kpis.apply(page)
    return Rebuilt(n, n, 0, state_digest(kpis.model), kpis)


def describe(rebuilt: Rebuilt) -> dict[str, Any]:
    return {"envelopes": rebuilt.envelopes, "facts": rebuilt.facts, "skipped": rebuilt.skipped,
            "tickets": len(rebuilt.kpis.model.tickets), "digest": rebuilt.digest}
