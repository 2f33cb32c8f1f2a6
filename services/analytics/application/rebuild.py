"""Rebuild analytics from zero from the lifecycle history (the audit ledger).

The facts table is replaced in ONE transaction (all or nothing): the old facts and the
consumer's progress are cleared, the ledger's events are normalised exactly as the live
consumer does it, and the KPI state is folded from them as it is folded live. Two things make
a rebuild fast without changing what it gives: an event whose type (as the ledger indexed it)
analytics does not count is passed over without decoding its payload, and each ticket is
folded once, from all its facts, at the end (the live state refolds a ticket whenever a fact
of it arrives; the fold is a sum over tickets, so both give the same state). After a rebuild the
consumer starts again from the beginning of the topic; facts it finds already there are
skipped (the facts table is keyed by event id), facts the ledger did not have yet are added.
Run it with the service stopped, or into a fresh schema (MINSHENG_PG_SCHEMA).
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from typing import Any

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import auth, events
from services.analytics.adapters.fact_store import (
    add_keys_in,
    all_facts,
    create_indexes_in,
    create_tables_in,
    drop_indexes_in,
    drop_keys_in,
    fact_copy,
    key_constraints_in,
)
from services.analytics.adapters.ledger import ledger_export
from services.analytics.application.normalise import NORMALISERS, UnusableFactError, fact_of_raw
from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import LiveKpis
from services.analytics.domain.kpis import KpiModel
from services.analytics.settings import AnalyticsSettings

BATCH = 500
# the event types a rebuild asks the ledger for (`ledger_export(types=...)`): those it makes
# facts of; the others it would pass over unread, so the ledger need not send them
COUNTED_TYPES = tuple(sorted(NORMALISERS))
Progress = Callable[[int, int], None]  # (envelopes read, facts kept)
# (the event type as the source indexed it, "" when it does not say; the raw envelope)
Entry = tuple[str, bytes]


def ledger_history(settings: AnalyticsSettings, audit_url: str | None = None) -> Iterable[Entry]:
    """The audit ledger's entries of the types a rebuild counts, read with the configured
    auditor token (or one minted for the rebuild)."""
    token = settings.audit_token or auth.mint(settings, sub="analytics-rebuild",
                                              role="auditor", ttl_s=3600)
    return ledger_export(audit_url or settings.audit_url, token, types=COUNTED_TYPES)


@dataclass(frozen=True)
class Rebuilt:
    # the ledger positions the rebuild covered: every entry of the range, those the source
    # sent and those it left out (a source filtered by type says how many it covered, as
    # `positions`); for a source that does not say, the entries read
    envelopes: int
    facts: int
    skipped: int  # undecodable or unusable envelopes (the live consumer dead-letters them)
    kpis: LiveKpis

    @cached_property
    def digest(self) -> str:
        """The KPI state's fingerprint (computed when asked: a check, not part of a rebuild)."""
        return state_digest(self.kpis.model)


def state_digest(model: KpiModel, since: dict[str, str] | None = None) -> str:
    """A fingerprint of the whole KPI state: equal digests, equal figures everywhere.
    `since`: of the buckets, those of the periods a live state keeps in memory only (its
    `first_kept`, the oldest period kept by kind), to compare with one."""
    state = model.to_dict()
    if since is not None:
        state["buckets"] = {k: b for k, b in state["buckets"].items()
                            if k.rsplit("|", 1)[1] >= since[k.rsplit("|", 2)[1]]}
    text = json.dumps(state, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def fold_envelopes(envelopes: Iterable[bytes], progress: Progress | None = None,
                   keep: Callable[[list[Fact]], None] | None = None) -> Rebuilt:
    """Normalise and fold raw envelopes (of types unknown beforehand)."""
    return fold_entries((("", raw) for raw in envelopes), progress, keep)


def fold_entries(entries: Iterable[Entry], progress: Progress | None = None,
                 keep: Callable[[list[Fact]], None] | None = None) -> Rebuilt:
    """Normalise and fold ledger entries; `keep` receives each batch of new facts."""
    with gc_paused():
        read, kept, skipped, tickets = collect_facts(entries, progress, keep)
        return Rebuilt(covered(entries, read), kept, skipped, LiveKpis.of_tickets(tickets))


def covered(entries: Iterable[Entry], read: int) -> int:
    """The ledger positions a source covered: its ``positions`` when it says (a source
    filtered at the ledger sends fewer entries than it covers), else the entries read."""
    positions = getattr(entries, "positions", None)
    return read if positions is None else int(positions)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cycle collector paused: a rebuild makes ~10 objects per fact (none in a cycle, all
    freed by their counts) and each collection walks the young ones again (5-10 % of a
    rebuild's CPU), a full one every object of the process.

    On the way out the objects made meanwhile go straight to the oldest generation (freeze
    and unfreeze: a list splice, nothing walked): re-enabled as they were, the collector's
    first allocation would walk them all as young objects to find no garbage (4-9 ms for
    20,000 entries, inside the rebuild's time). Garbage among them, if any, is found by the
    next full collection."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if not gc.get_freeze_count():  # nobody else's frozen objects to thaw
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def collect_facts(entries: Iterable[Entry], progress: Progress | None = None,
                  keep: Callable[[list[Fact]], None] | None = None
                  ) -> tuple[int, int, int, dict[str, dict[str, Fact]]]:
    """:func:`fold_entries` before the fold: (entries read, facts kept, skipped, the facts by
    ticket id and event id)."""
    tickets: dict[str, dict[str, Fact]] = {}
    seen: set[str] = set()
    batch: list[Fact] = []
    read = kept = skipped = 0
    counted = NORMALISERS
    for event_type, raw in entries:
        read += 1
        if event_type and event_type not in counted:
            continue  # not a fact: the payload is never decoded
        try:
            fact = fact_of_raw(raw)
        except (events.EnvelopeError, UnusableFactError):
            skipped += 1
            continue
        if fact is None or fact.event_id in seen:
            continue
        seen.add(fact.event_id)
        facts = tickets.get(fact.ticket_id)
        if facts is None:
            facts = tickets[fact.ticket_id] = {}
        facts[fact.event_id] = fact
        batch.append(fact)
        if len(batch) >= BATCH:
            kept += _flush(batch, keep)
            batch = []
            if progress:
                progress(read, kept)
    kept += _flush(batch, keep)
    if progress:
        progress(read, kept)
    return read, kept, skipped, tickets


def _flush(batch: list[Fact], keep: Callable[[list[Fact]], None] | None) -> int:
    if batch and keep:
        keep(batch)
    return len(batch)


def rebuild(pool: ConnectionPool, schema: str, consumer: str, entries: Iterable[Entry],
            progress: Progress | None = None) -> Rebuilt:
    """Replace the facts table with the history's facts, in one transaction."""
    with gc_paused():
        return _rebuild(pool, schema, consumer, entries, progress)


def _rebuild(pool: ConnectionPool, schema: str, consumer: str, entries: Iterable[Entry],
             progress: Progress | None) -> Rebuilt:
    source = iter(entries)
    with ThreadPoolExecutor(1, thread_name_prefix="rebuild-ahead") as ahead:
        # the source's first entry (for the ledger: the request, audit recording the read and
        # reading its first rows) is awaited while the tables are made ready
        first = ahead.submit(next, source, None)
        s = Identifier(schema)
        with pool.connection() as conn, conn.transaction(), conn.cursor() as cur, \
                conn.cursor() as asked:
            with conn.pipeline():  # the statements in one round trip, not one each
                create_tables_in(cur, schema)  # in the rebuild's transaction: one commit
                cur.execute(SQL("TRUNCATE {}.facts RESTART IDENTITY").format(s))
                cur.execute(SQL("DELETE FROM {}.consumer_positions WHERE consumer = %s")
                            .format(s), (consumer,))
                cur.execute(SQL("DELETE FROM {}.consumed_events WHERE consumer = %s")
                            .format(s), (consumer,))
                # the lookup indexes made again after the COPY, while the KPIs are folded
                # (below): the database's work on them moves out of the streaming, where it
                # competes with this process for the cores, into the fold's time
                drop_indexes_in(cur, schema)
                key_constraints_in(asked, schema)
            # the keys too (primary key, unique event id): their indexes are then built once
            # from all the rows after the COPY, not row by row during it (a duplicate event
            # id fails that build: the same error, the rebuild rolls back)
            keys = asked.fetchall()
            drop_keys_in(cur, schema, keys)
            head = first.result()  # a source that failed fails here: the transaction rolls back
            with fact_copy(cur, schema) as keep:
                read, kept, skipped, tickets = collect_facts(
                    source if head is None else chain([head], source), progress, keep)
                # the KPIs are folded while the database takes the last rows and makes the
                # indexes (this thread then only waits for the server); a fold that fails
                # rolls the rebuild back
                folded = ahead.submit(LiveKpis.of_tickets, tickets)
            with conn.pipeline():
                add_keys_in(cur, schema, keys)
                create_indexes_in(cur, schema)
            kpis = folded.result()
        return Rebuilt(covered(entries, read), kept, skipped, kpis)


def stored_state(pool: ConnectionPool, schema: str) -> Rebuilt:
    """The KPI state folded from the facts table as it stands (what the live service holds)."""
    tickets: dict[str, dict[str, Fact]] = {}
    n = 0
    for page in all_facts(pool, schema):
        for f in page:
            tickets.setdefault(f.ticket_id, {})[f.event_id] = f
        n += len(page)
    return Rebuilt(n, n, 0, LiveKpis.of_tickets(tickets))


def describe(rebuilt: Rebuilt) -> dict[str, Any]:
    return {"envelopes": rebuilt.envelopes, "facts": rebuilt.facts, "skipped": rebuilt.skipped,
            "tickets": rebuilt.kpis.model.ticket_count, "digest": rebuilt.digest}
