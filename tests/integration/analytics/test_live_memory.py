"""The live state in bounded memory, on the real facts table: it keeps the facts of a few
tickets only, and a late fact of a ticket let go (a reopening, a late callback, a commit that
lands in the tail's gap) refolds the ticket from its facts read back; the state's digest is a
rebuild's from the same table. Hot topics and the map read their window from the table."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.store import ensure_database
from services.analytics.adapters.fact_store import (
    FactTail,
    create_tables,
    insert_facts,
    submitted_in,
)
from services.analytics.application.normalise import fact_of
from services.analytics.application.rebuild import state_digest, stored_state
from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import LiveKpis, ticket_texts
from services.analytics.settings import AnalyticsSettings
from tests.integration.analytics.month import SH, simulate

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=SH)


def fact(ticket: str, kind: str, minutes: float, **attrs: object) -> Fact:
    return Fact(str(uuid.uuid4()), ticket, kind, T0 + timedelta(minutes=minutes), dict(attrs))


class Live:
    """LiveState.catch_up's turn: a read of the tail, its facts and earlier facts applied."""

    def __init__(self, pool: ConnectionPool, schema: str, kept: int):
        self.tail = FactTail(pool, schema, grace_s=60.0)
        self.kpis = LiveKpis(tickets_kept=kept)
        self.earlier_read: set[str] = set()  # tickets whose facts came back from the table

    def catch_up(self) -> None:
        while True:
            facts = self.tail.read(self.kpis.knows, self.kpis.away)
            self.earlier_read.update(t for t, fs in self.tail.earlier.items() if fs)
            self.kpis.apply(facts, self.tail.earlier)
            if self.tail.caught_up:
                return


def test_late_facts_of_tickets_let_go_give_a_rebuilds_state(infra, unique):
    settings = AnalyticsSettings(pg_dbname=infra.pg_dbname, pg_schema=f"livemem_{unique}")
    ensure_database(settings)
    month = [f for f in (fact_of(events.decode(e.SerializeToString()))
                         for e in simulate(seed=11, per_unit=3).envelopes) if f is not None]
    month.sort(key=lambda f: f.at)
    rng = random.Random(5)
    with ConnectionPool(settings.pg_conninfo(), min_size=3, max_size=3) as pool:
        try:
            create_tables(pool, settings.schema)
            live = Live(pool, settings.schema, kept=3)
            i = 0
            while i < len(month):  # the consumer's batches, the live state reading each
                n = rng.randint(1, 60)
                with pool.connection() as conn:
                    insert_facts(conn.cursor(), settings.schema, month[i:i + n])
                i += n
                live.catch_up()
                assert len(live.kpis.facts) <= 3
            assert live.earlier_read  # the month's late facts found their tickets let go
            assert state_digest(live.kpis.model) == stored_state(pool, settings.schema).digest

            # a closed ticket, then other tickets push it out of memory
            a = [fact("A", "submitted", 0, channel="web", text="路灯不亮"),
                 fact("A", "assigned", 1, unit="funan", county="funan", category="urban",
                      assignment_no=1),
                 fact("A", "replied", 50, unit="funan"), fact("A", "closed", 60, unit="funan")]
            with pool.connection() as conn:
                insert_facts(conn.cursor(), settings.schema, a)
            live.catch_up()
            with pool.connection() as conn:
                insert_facts(conn.cursor(), settings.schema,
                             [fact(f"X{k}", "submitted", k, channel="web") for k in range(5)])
            live.catch_up()
            assert "A" not in live.kpis.facts
            # a reopening takes its seq and commits late; a callback commits meanwhile
            late = pool.getconn()
            try:
                insert_facts(late.cursor(), settings.schema,
                             [fact("A", "reopened", 3000, unit="funan")])
                with pool.connection() as conn:
                    insert_facts(conn.cursor(), settings.schema,
                                 [fact("A", "callback", 2000, unit="funan", reached=True,
                                       satisfaction="dissatisfied")])
                live.catch_up()  # the callback, A's facts read back (the gap's row is not)
                assert len(live.tail.gaps) == 1
                with pool.connection() as conn:  # and A is let go again
                    insert_facts(conn.cursor(), settings.schema,
                                 [fact(f"Y{k}", "submitted", k, channel="web") for k in range(5)])
                live.catch_up()
                assert "A" not in live.kpis.facts
                late.commit()
            finally:
                pool.putconn(late)
            live.earlier_read.clear()
            live.catch_up()  # the reopening: a late row, A's facts read back with the callback
            assert live.earlier_read == {"A"} and live.tail.gaps == {}
            expected = stored_state(pool, settings.schema)
            assert state_digest(live.kpis.model) == expected.digest
            assert live.kpis.fact_count == expected.facts
            assert live.kpis.model.ticket_count == expected.kpis.model.ticket_count

            # the window's tickets come from the table, as the in-memory facts gave them
            start, end = datetime(2024, 2, 1, tzinfo=SH), datetime(2024, 4, 1, tzinfo=SH)
            everything = expected.kpis.facts.values()
            assert ticket_texts(submitted_in(pool, settings.schema, start, end), start, end) \
                == ticket_texts([list(f.values()) for f in everything], start, end)
        finally:
            with pool.connection() as conn:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    Identifier(settings.schema)))
