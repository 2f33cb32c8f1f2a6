"""The projector runs in a process of its own; two of them (a replica, or an all-in-one intake
started beside a projector process) never apply one stretch of the log twice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from eventsourcing.persistence import IntegrityError
from psycopg_pool import ConnectionPool

from backbone.store import ensure_database
from services.intake.adapters import ticket_index
from services.intake.application.projector import NAME, TicketProjector
from services.intake.bootstrap import build_application
from services.intake.domain.recent_tickets import snapshot_of
from services.intake.domain.ticket import Ticket
from services.intake.domain.ticket_code import issue_code
from services.intake.settings import IntakeSettings

pytestmark = pytest.mark.integration


def _ticket(n: int, at: datetime, text: str = "", lat: float | None = None) -> Ticket:
    ticket = Ticket(code=issue_code("FY", date(2026, 11, 27), n), channel="web",
                    masked_text=text or f"第{n}个问题：路灯不亮", masked_title=None,
                    category_hint=None,
                    place={"lat": 32.9 + n / 100 if lat is None else lat, "lon": 115.8,
                           "address_masked": None},
                    citizen=None, masked_contact=None, requester_kind="citizen",
                    attachment_refs=[], idempotency_key=f"k{n}", timestamp=at,
                    adapter_id="test", external_ref="")
    ticket.accept(flags=[], at=at)
    return ticket


@pytest.fixture
def projection(infra, unique):
    """intake's store and a ticket index in a schema of this test's own."""
    settings = IntakeSettings(environment="test", pg_dbname="intake_it", pg_schema=f"pj_{unique}")
    ensure_database(settings)
    app = build_application(settings)
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=4) as pool:
        ticket_index.create_table(pool, settings.schema)
        yield settings, app, pool, ticket_index.TicketIndex(pool, settings.schema)
    app.close()


def test_a_batch_applied_by_one_projector_is_refused_to_the_other(projection):
    settings, app, pool, index = projection
    at = datetime.now(UTC)
    app.save(*[_ticket(n, at) for n in range(1, 6)])
    one, other = (TicketProjector(app=app, index=index, schema=settings.schema)
                  for _ in range(2))
    start = one.position()
    assert other.run_once() > 0  # the other applies the batch while `one` is still at it
    one.position = lambda: start  # type: ignore[method-assign]  # what `one` had read
    with pytest.raises(IntegrityError):
        one.run_once()
    del one.position  # reads the real position again: nothing is left to apply
    assert one.run_once() == 0
    with pool.connection() as conn:
        rows = conn.execute(f'SELECT count(*) FROM "{settings.schema}".ticket_index'
                            ).fetchone()[0]
        batches = conn.execute(f'SELECT count(*) FROM "{settings.schema}".consumed_events'
                               " WHERE consumer = %s", (NAME,)).fetchone()[0]
    assert rows == 5 and batches == 1


def _submitted(n: int, at: datetime) -> Ticket:
    """A ticket submitted and not decided yet."""
    return Ticket(code=issue_code("FY", date(2026, 11, 27), n), channel="web",
                  masked_text=f"第{n}个问题", masked_title=None, category_hint=None,
                  place={"lat": 32.9 + n / 100, "lon": 115.8, "address_masked": None},
                  citizen=None, masked_contact=None, requester_kind="citizen",
                  attachment_refs=[], idempotency_key=f"k{n}", timestamp=at,
                  adapter_id="test", external_ref="")


def test_one_write_per_row_per_batch_and_none_for_a_row_the_submission_wrote(projection):
    settings, app, pool, index = projection
    at = datetime.now(UTC)
    accepted, written, stub = _ticket(1, at), _submitted(2, at), _submitted(3, at)
    app.save(accepted, written, stub)
    t = f'"{settings.schema}".ticket_index'

    def write(*statements: ticket_index.Statement) -> None:
        with pool.connection() as conn:
            for s in statements:
                conn.execute(s.sql, s.params)

    def rows() -> dict:
        with pool.connection() as conn:
            return {r[0]: r[1:] for r in conn.execute(
                f"SELECT ticket_id, xmin::text, status, code, unit FROM {t}").fetchall()}

    # the submission's own row, and a stub of another service's fact
    write(index.upsert(written.id, **ticket_index.submitted_columns(written, at)),
          index.upsert(stub.id, unit="yingzhou", updated_at=at))
    before = rows()
    assert TicketProjector(app=app, index=index, schema=settings.schema).run_once() > 0
    after = rows()
    assert after[written.id] == before[written.id]  # not written again
    assert after[accepted.id][1:] == ("accepted", accepted.code, None)
    assert after[stub.id][1:] == ("submitted", stub.code, "yingzhou")  # filled in
    # the same fact twice: the second writes no row version
    fact = index.upsert(stub.id, unit="gucheng", updated_at=datetime.now(UTC))
    write(fact)
    once = rows()[stub.id]
    write(fact)
    assert rows()[stub.id] == once and once[3] == "gucheng"


def test_a_ticket_stated_before_what_is_kept_is_merged_all_the_same(projection):
    """A call entered long after (stated 9 days back, before the stretch the projector keeps
    in memory): its duplicates are found through the index, as for a recent one."""
    settings, app, _, index = projection
    projector = TicketProjector(app=app, index=index, schema=settings.schema)
    now = datetime.now(UTC).replace(microsecond=0)
    early = now - timedelta(days=9)
    first = _ticket(1, early, "清河路路灯不亮了好几天晚上走路很危险", lat=32.9)
    app.save(first, _ticket(2, now, "垃圾桶满了没人清理", lat=32.9))
    while projector.run_once():
        pass
    assert not projector.recent.covers(snapshot_of(str(first.id), {
        "submitted_at": early + timedelta(hours=1)}))
    again = _ticket(3, early + timedelta(hours=1), "清河路路灯不亮了好几天晚上走路很危险", lat=32.9)
    app.save(again)
    while projector.run_once():
        pass
    third = _ticket(4, early + timedelta(hours=2), "清河路路灯不亮了好几天晚上走路很危险", lat=32.9)
    app.save(third)
    while projector.run_once():
        pass
    rows = {r["code"]: r for r in index.by_codes([first.code, again.code, third.code])}
    assert rows[again.code]["primary_code"] == first.code
    assert rows[third.code]["primary_code"] == first.code
