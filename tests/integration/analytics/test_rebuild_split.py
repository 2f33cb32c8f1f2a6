"""A rebuild split between two processes (application/rebuild_split.py) stores the same facts
and gives the same KPI state as a rebuild in one process; a ledger the split cannot place (an
event id repeated under a ticket the other side folds) is rebuilt again in one process, with
the same result."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.store import ensure_database
from services.analytics.adapters.fact_store import all_facts
from services.analytics.application import rebuild_split
from services.analytics.application.rebuild import Rebuilt, rebuild
from services.analytics.entrypoints.consumer import CONSUMER
from services.analytics.settings import AnalyticsSettings
from tests.integration.analytics.month import simulate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ledger() -> list[tuple[str, bytes]]:
    month = simulate(seed=11, per_unit=4).envelopes
    entries = [(env.event_type, env.SerializeToString()) for env in month]
    # copies (kept once), a type analytics does not count, an untyped entry and junk
    return [*entries, *entries[:40], ("DeadlineSet", b"\x00never decoded"),
            ("", entries[5][1]), ("", b"\x00junk")]


def _rebuilt(infra: Any, unique: str, name: str, entries: list[tuple[str, bytes]],
             split: bool) -> tuple[Rebuilt, list[tuple[Any, ...]]]:
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"rb_{name}_{unique}")
    ensure_database(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=2) as pool:
        try:
            done = rebuild(pool, settings.schema, CONSUMER, iter(entries),
                           again=(lambda: iter(entries)) if split else None)
            rows = sorted((f.event_id, f.ticket_id, f.kind, f.at, f.attrs)
                          for page in all_facts(pool, settings.schema) for f in page)
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE")
                             .format(Identifier(settings.schema)))
    return done, rows


def _same(one: Rebuilt, two: Rebuilt) -> None:
    assert two.digest == one.digest
    assert (two.envelopes, two.facts, two.skipped) == (one.envelopes, one.facts, one.skipped)
    assert (two.kpis.fact_count, two.kpis.latest, two.kpis.unit_kinds) == (
        one.kpis.fact_count, one.kpis.latest, one.kpis.unit_kinds)


def test_a_split_rebuild_equals_one_in_one_process(infra, unique, ledger, caplog):
    sides = {rebuild_split.side_of(events.decode(raw).ticket_id)
             for t, raw in ledger if t == "TicketSubmitted"}
    assert sides == {0, 1}  # both sides fold tickets
    one, one_rows = _rebuilt(infra, unique, "one", ledger, split=False)
    two, two_rows = _rebuilt(infra, unique, "two", ledger, split=True)
    _same(one, two)
    assert two_rows == one_rows and len(one_rows) == one.facts
    assert one.skipped == 1
    assert "again in one" not in caplog.text  # it was split


def _pair_across_sides(ledger: list[tuple[str, bytes]]) -> tuple[Any, Any]:
    decoded = [events.decode(raw) for t, raw in ledger[:300] if t == "TicketAccepted"]
    first = decoded[0]
    other = next(d for d in decoded if rebuild_split.side_of(d.ticket_id)
                 != rebuild_split.side_of(first.ticket_id))
    return first, other


def test_an_event_id_again_under_another_ticket_is_kept_once(infra, unique, ledger, caplog):
    first, other = _pair_across_sides(ledger)
    # a TicketAccepted of the first one's event id under a ticket the other side folds
    twin = events.make_envelope(payload=other.payload, event_id=first.event_id,
                                ticket_id=other.ticket_id, ticket_code="FY",
                                producer=other.envelope.producer,
                                occurred_at=other.envelope.occurred_at.ToDatetime())
    odd = [*ledger, ("TicketAccepted", twin.SerializeToString())]
    one, one_rows = _rebuilt(infra, unique, "one", odd, split=False)
    two, two_rows = _rebuilt(infra, unique, "two", odd, split=True)
    _same(one, two)
    assert two_rows == one_rows
    assert "again in one" not in caplog.text  # copies go where the first copy went


def test_an_envelope_the_split_cannot_place_is_rebuilt_in_one_process(infra, unique, ledger,
                                                                      caplog):
    first, other = _pair_across_sides(ledger)
    # a valid encoding protobuf never writes: ticket_id twice, the last one counts; routed by
    # the first, it is a fact of a ticket the other side folds
    raw = first.envelope.SerializeToString() + b"\x12" + bytes([len(other.ticket_id)]) + \
        other.ticket_id.encode()
    assert events.decode(raw).ticket_id == other.ticket_id
    odd = [*ledger, ("TicketAccepted", raw)]
    odd = [(t, r) for t, r in odd if r != first.envelope.SerializeToString()]
    one, one_rows = _rebuilt(infra, unique, "one", odd, split=False)
    two, two_rows = _rebuilt(infra, unique, "two", odd, split=True)
    _same(one, two)
    assert two_rows == one_rows
    assert "again in one" in caplog.text
