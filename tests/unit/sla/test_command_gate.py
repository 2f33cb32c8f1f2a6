"""Wall clock: a command fires what its ticket owes no further than the ticket's lifecycle
partition is read (application/gate.py): nothing owed by its time -> runs, the broker not
asked; owed and the partition caught up (or read past the command's time) -> runs as before;
owed past the time read in a lagging partition -> 503 facts_pending (Retry-After), what is
owed up to that time fired, nothing else; the bound unknown (no end offsets, no time recorded)
-> refused the same way; the event clock (no gate) unchanged."""

import asyncio
import contextlib
import datetime as dt

import pytest
from eventsourcing.application import Application

from backbone.consumer import UnitOfWork
from backbone.ownership import partition_of
from services.sla.adapters import watermark
from services.sla.adapters.watermark import command_bound
from services.sla.application import gate as gate_module
from services.sla.application.app import Rules
from services.sla.application.firing import TicketBook, fire_ticket, first_owed
from services.sla.application.gate import CommandGate, EndsNeeded, FactsPendingError, fire_owed
from services.sla.domain.clock import TicketClock
from services.sla.entrypoints.timers import TimeSource

T = "tickets.events"
TICKET = "T-9"


@pytest.fixture
def book_of(policy, calendar, sh):
    """A fresh unit of work over a stored, assigned clock of TICKET: general, accepted Monday
    2024-11-04 10:00, due at the end of 11-11 (Shanghai), warned before."""
    app = Application()
    clock = TicketClock.start(policy, calendar, ticket_id=TICKET, clock_number=1,
                              grade="general", accepted_at=sh("2024-11-04 10:00"))
    clock.assign(policy, calendar, unit="yingzhou", at=sh("2024-11-04 10:30"),
                 parent_unit="city")
    clock.sign_for(unit="yingzhou", at=sh("2024-11-04 11:00"))
    app.save(clock)
    return lambda: TicketBook(UnitOfWork(app), [])


def fired_types(book):
    return [type(e).__qualname__ for a in book.uow.aggregates.values()
            for e in a.pending_events]


class Bound:
    """A bound() that counts how often it was asked."""

    def __init__(self, at):
        self.at, self.asked = at, 0

    def __call__(self):
        self.asked += 1
        if isinstance(self.at, Exception):
            raise self.at
        return self.at


def test_the_event_clock_fires_as_before(policy, calendar, sh, book_of):
    rules = Rules(policy, calendar)
    at = sh("2024-11-20 09:00")
    old, new = book_of(), book_of()
    assert fire_owed(rules, new, TICKET, at, None) == fire_ticket(rules, old, TICKET, at) > 0
    assert fired_types(new) == fired_types(old) and "TicketClock.Missed" in fired_types(new)


def test_nothing_owed_by_the_commands_time_runs_without_asking(policy, calendar, sh, book_of):
    rules = Rules(policy, calendar)
    book, bound = book_of(), Bound(EndsNeeded())
    at = sh("2024-11-04 12:00")  # the first warning is days away
    assert first_owed(rules, book, TICKET, at) is None
    assert fire_owed(rules, book, TICKET, at, bound) == 0 and bound.asked == 0


def test_owed_and_caught_up_fires_up_to_the_commands_time(policy, calendar, sh, book_of):
    rules = Rules(policy, calendar)
    at = sh("2024-11-20 09:00")
    book, bound = book_of(), Bound(at)  # the bound: the command's time (nothing lags)
    expected = fire_ticket(rules, book_of(), TICKET, at)
    assert fire_owed(rules, book, TICKET, at, bound) == expected and bound.asked == 1
    assert "TicketClock.Missed" in fired_types(book)


def test_owed_past_the_time_read_in_a_lagging_partition_is_refused(policy, calendar, sh,
                                                                     book_of):
    rules = Rules(policy, calendar)
    at = sh("2024-11-20 09:00")
    # read up to the 9th: the warning owed on the 8th fires, the deadline (11-11) does not
    book = book_of()
    with pytest.raises(FactsPendingError) as refused:
        fire_owed(rules, book, TICKET, at, Bound(sh("2024-11-09 12:00")))
    assert refused.value.status == 503 and refused.value.code == "facts_pending"
    assert refused.value.headers == {"Retry-After": str(gate_module.RETRY_AFTER_S)}
    assert "read up to 2024-11-09T12:00:00+08:00" in refused.value.detail
    assert "TicketClock.Warned" in fired_types(book)
    assert "TicketClock.Missed" not in fired_types(book)
    # read up to a time past everything owed by the command's time: runs
    book = book_of()
    assert fire_owed(rules, book, TICKET, sh("2024-11-12 09:00"),
                     Bound(sh("2024-11-12 08:00"))) > 0
    assert "TicketClock.Missed" in fired_types(book)


def test_a_bound_that_cannot_be_known_refuses(policy, calendar, sh, book_of):
    rules = Rules(policy, calendar)
    with pytest.raises(FactsPendingError):
        fire_owed(rules, book_of(), TICKET, sh("2024-11-20 09:00"),
                  Bound(FactsPendingError("no upstream time recorded yet")))


@pytest.fixture
def state(monkeypatch):
    """CommandGate.bound on a stated partition (its time, the consumer's position)."""
    found = {"times": {}, "applied": {}, "asked": []}
    monkeypatch.setattr(gate_module, "autocommit", lambda pool: contextlib.nullcontext(None))

    def partition_state(conn, schema, consumer, topic, partition):
        found["asked"].append(partition)
        return ({k: v for k, v in found["times"].items() if k == (topic, partition)},
                {k: v for k, v in found["applied"].items() if k == (topic, partition)})
    monkeypatch.setattr(watermark, "partition_state", partition_state)
    return found


WALL = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_the_gate_bounds_by_the_tickets_own_partition(state):
    gate = CommandGate(pool=None, schema="s", consumer="sla-lifecycle", topic=T)
    ends = {(T, p): 10 for p in range(3)}
    mine = partition_of(TICKET, 3)
    other = (mine + 1) % 3
    with pytest.raises(EndsNeeded):
        gate.bound(TICKET, WALL, None)
    # another partition's lag is other tickets'
    state["times"] = {(T, mine): WALL - DAY, (T, other): WALL - 3 * DAY}
    state["applied"] = {(T, mine): 10, (T, other): 2}
    assert gate.bound(TICKET, WALL, ends) == WALL and state["asked"] == [mine]
    # its own lags: the time read there
    state["applied"][(T, mine)] = 4
    assert gate.bound(TICKET, WALL, ends) == WALL - DAY
    # lagging, with no time recorded: refused
    state["times"] = {}
    with pytest.raises(FactsPendingError, match=rf"tickets.events\[{mine}\]"):
        gate.bound(TICKET, WALL, ends)


def test_command_bound():
    times, ends = {(T, 0): WALL - DAY, (T, 1): WALL - 2 * DAY}, {(T, 0): 5, (T, 1): 5}
    assert command_bound(WALL, 0, times, {(T, 0): 5, (T, 1): 1}, ends) == (WALL, "")
    assert command_bound(WALL, 0, times, {(T, 0): 4, (T, 1): 1}, ends)[0] == WALL - DAY
    assert command_bound(WALL - 2 * DAY, 0, times, {(T, 0): 4}, ends)[0] == WALL - 2 * DAY
    assert command_bound(WALL, 1, {}, {(T, 1): 1}, ends)[0] is None


class FakeEnds:
    def __init__(self, answer):
        self.answer = answer

    async def fetch(self):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.mark.parametrize("answer", [ConnectionError("broker down"), None])
def test_end_offsets_unknown_refuse_the_command(answer):
    ts = TimeSource.__new__(TimeSource)
    ts.settings = type("S", (), {"lifecycle_topic": T})()
    ts.ends = FakeEnds(answer)
    with pytest.raises(FactsPendingError, match="end offsets unknown"):
        asyncio.run(ts.command_ends())
    ts.ends = FakeEnds({(T, 0): 3})
    assert asyncio.run(ts.command_ends()) == {(T, 0): 3}
