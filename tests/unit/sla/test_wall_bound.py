"""Wall-clock timers are capped by the facts not read yet (watermark.wall_bound, TimeSource):
no lag -> wall time; a lagging partition -> the upstream time read there; a lagging partition
with no recorded time, or end offsets the broker did not give -> hold (and say so); the broker
is asked only in a round where something is owed by wall time."""

import asyncio
import contextlib
import datetime as dt

import pytest

from services.sla.adapters import watermark
from services.sla.adapters.watermark import could_fire, wall_bound
from services.sla.entrypoints import timers
from services.sla.entrypoints.timers import TimeSource
from services.sla.settings import SlaSettings

WALL = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
T = "tickets.events"


def test_no_lagging_partition_fires_up_to_wall_time():
    times = {(T, 0): WALL - 3 * DAY, (T, 1): WALL - DAY}
    assert wall_bound(WALL, times, {(T, 0): 5, (T, 1): 9}, {(T, 0): 5, (T, 1): 9}) == (WALL, "")
    assert wall_bound(WALL, {}, {}, {(T, 0): 0, (T, 1): 0}) == (WALL, "")  # empty topic


def test_a_lagging_partition_caps_wall_time_with_the_time_read_there():
    times = {(T, 0): WALL - 3 * DAY, (T, 1): WALL - DAY, (T, 2): WALL - 2 * DAY}
    applied = {(T, 0): 5, (T, 1): 7, (T, 2): 4}
    ends = {(T, 0): 5, (T, 1): 9, (T, 2): 6}  # 1 and 2 have unread messages, 0 has none
    bound, why = wall_bound(WALL, times, applied, ends)
    assert bound == WALL - 2 * DAY and "tickets.events[2]" in why
    # a lagging partition that has read past wall time (a clock ahead) caps nothing
    assert wall_bound(WALL, {(T, 1): WALL + DAY}, applied, {(T, 1): 9})[0] == WALL
    # a partition never read at all (no position) lags from offset 0
    assert wall_bound(WALL, {(T, 3): WALL - DAY}, {}, {(T, 3): 2})[0] == WALL - DAY


def test_another_replicas_lag_is_its_own():
    times = {(T, 0): WALL - 3 * DAY, (T, 1): WALL - DAY}
    applied, ends = {(T, 0): 1, (T, 1): 1}, {(T, 0): 2, (T, 1): 2}
    assert wall_bound(WALL, times, applied, ends, frozenset({1}))[0] == WALL - DAY
    assert wall_bound(WALL, times, applied, ends, frozenset({0, 1}))[0] == WALL - 3 * DAY
    assert wall_bound(WALL, times, applied, ends, frozenset())[0] == WALL  # owns none


def test_a_lagging_partition_without_a_recorded_time_holds():
    """The first start after the upgrade, with a backlog: nothing is known of what is unread."""
    bound, why = wall_bound(WALL, {(T, 0): WALL - DAY}, {(T, 0): 3, (T, 1): 0},
                            {(T, 0): 3, (T, 1): 4})
    assert bound is None and "tickets.events[1]" in why
    assert not could_fire(bound, WALL - 9 * DAY)
    # caught up with it, the hold ends
    assert wall_bound(WALL, {(T, 0): WALL - DAY}, {(T, 0): 3, (T, 1): 4},
                      {(T, 0): 3, (T, 1): 4})[0] == WALL


def test_the_bound_with_earlier_ends_is_never_earlier_than_with_the_ends_now():
    """What lets a round skip the broker: nothing owed by the old bound -> nothing now."""
    times = {(T, 0): WALL - 3 * DAY, (T, 1): WALL - DAY}
    applied = {(T, 0): 5, (T, 1): 7}
    old = wall_bound(WALL, times, applied, {(T, 0): 5, (T, 1): 8})[0]
    new = wall_bound(WALL, times, applied, {(T, 0): 6, (T, 1): 9})[0]
    assert new <= old == WALL - DAY
    assert wall_bound(WALL, times, applied, {(T, 2): 1, (T, 1): 9})[0] is None  # never seen


class FakeEnds:
    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = 0

    async def fetch(self):
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self):
        pass


@pytest.fixture
def source(monkeypatch):
    """A wall-clock TimeSource on a stated snapshot (times, positions, next due) and wall."""
    state = {"times": {}, "applied": {}, "next_due": None, "wall": WALL}
    monkeypatch.setattr(timers, "autocommit", lambda pool: contextlib.nullcontext(None))
    monkeypatch.setattr(watermark, "times_and_positions", lambda conn, schema, consumer: (
        state["times"], state["applied"], state["next_due"]))
    ts = TimeSource.__new__(TimeSource)  # (the constructor wants a producer: built by hand)
    ts._wall = lambda: state["wall"]
    ts.settings = SlaSettings(clock="wall")
    ts.pool = None
    ts.event_time = False
    ts.last = None
    ts._ends = None
    ts._fresh = False
    ts.stale = False
    ts.owned = None
    ts.owns = None
    ts.held_s = 0.0
    ts.hold_reason = ""
    ts._held_since = None
    ts._warned_at = 0.0
    ts.next_due = None
    ts.read_due = False
    return ts, state


def round_(ts):
    """TimerLoop.run_once's use: prepare, now, and once more if the ends were stale."""
    async def go():
        await ts.prepare()
        now = ts.now()
        if ts.stale:
            await ts.prepare()
            now = ts.now()
        return now
    return asyncio.run(go())


def test_nothing_owed_by_wall_time_does_not_ask_the_broker(source):
    ts, state = source
    ts.ends = FakeEnds([])
    # None: nothing to fire, so not even a query for due tickets; the views' time is wall time
    assert round_(ts) is None and ts.last == WALL and ts.ends.asked == 0 and ts.held_s == 0
    state["next_due"] = WALL + DAY
    assert round_(ts) is None and ts.ends.asked == 0 and ts.next_due == WALL + DAY


def test_owed_and_caught_up_fires_at_wall_time(source):
    ts, state = source
    state.update(times={(T, 0): WALL - DAY}, applied={(T, 0): 4}, next_due=WALL - DAY)
    ts.ends = FakeEnds([{(T, 0): 4}])
    assert round_(ts) == WALL and ts.ends.asked == 1 and ts.held_s == 0


def test_owed_behind_a_backlog_holds_and_says_how_long(source, caplog):
    ts, state = source
    state.update(times={(T, 0): WALL - 3 * DAY}, applied={(T, 0): 4}, next_due=WALL - DAY)
    ts.ends = FakeEnds([{(T, 0): 900}])
    assert round_(ts) == WALL - 3 * DAY and ts.held_s == DAY.total_seconds()
    assert ts.ends.asked == 1
    # the next round: the old ends already hold it back, so the broker is not asked
    assert round_(ts) == WALL - 3 * DAY and ts.ends.asked == 1
    # held past HOLD_WARN_S: a warning names the partition
    ts._held_since -= timers.HOLD_WARN_S + 1
    with caplog.at_level("WARNING", logger=timers.__name__):
        round_(ts)
    assert "tickets.events[0] has unread messages" in caplog.text
    # read to the end: fires at wall time, and the hold is over
    state["applied"] = {(T, 0): 900}
    ts.ends.answers.append({(T, 0): 900})
    assert round_(ts) == WALL and ts.held_s == 0 and ts._held_since is None


def test_a_broker_that_does_not_answer_holds_without_failing_the_round(source, caplog):
    ts, state = source
    state.update(times={(T, 0): WALL - 3 * DAY}, applied={(T, 0): 4}, next_due=WALL - DAY)
    ts.ends = FakeEnds([ConnectionError("broker down"), None])
    assert round_(ts) is None and ts.held_s == DAY.total_seconds()
    assert "broker down" in ts.hold_reason
    ts._held_since -= timers.HOLD_WARN_S + 1
    with caplog.at_level("WARNING", logger=timers.__name__):
        assert round_(ts) is None  # asked again (None: the broker cannot say yet): held
    assert ts.ends.asked == 2 and "end offsets unknown" in caplog.text
    ts.ends.answers.append({(T, 0): 4})
    assert round_(ts) == WALL and ts.held_s == 0


def test_a_lagging_partition_with_no_time_yet_holds(source):
    ts, state = source
    state.update(times={}, applied={}, next_due=WALL - DAY)
    ts.ends = FakeEnds([{(T, 0): 3}])
    assert round_(ts) is None and ts.held_s == DAY.total_seconds()
    state.update(times={(T, 0): WALL - 2 * DAY}, applied={(T, 0): 2})  # read some of it
    assert round_(ts) == WALL - 2 * DAY and ts.ends.asked == 1


def test_the_held_gauge_reports_this_replicas_own_tickets(source, monkeypatch):
    """With two replicas the earliest instant owed (every replica's) is not this replica's
    hold: another's ticket owed past the bound was reported as held here, and another's owed
    before it (its own to fire) hid this replica's held ticket."""
    from services.sla.adapters import readmodel
    ts, state = source
    owed = []  # (ticket, instant): every replica's

    def owed_between(conn, schema, after, until, limit, offset=0):
        rows = sorted((at, t) for t, at in owed if (after is None or at > after) and at <= until)
        return [(t, at) for at, t in rows][offset:offset + limit]
    monkeypatch.setattr(readmodel, "owed_between", owed_between)
    monkeypatch.setattr(TimeSource, "HELD_PAGE", 1)  # (the pages walked too)
    ts.owned, ts.owns = frozenset({0}), lambda ticket: ticket.startswith("mine")
    # this replica's partition 0 lags, read up to 3 days ago; the other's 1 does too
    state.update(times={(T, 0): WALL - 3 * DAY, (T, 1): WALL - 4 * DAY},
                 applied={(T, 0): 4, (T, 1): 4})
    ts.ends = FakeEnds([{(T, 0): 900, (T, 1): 900}] * 3)
    # only the other replica's ticket is owed past this bound: nothing of ours is held
    owed[:] = [("theirs", WALL - 2 * DAY)]
    state["next_due"] = WALL - 2 * DAY
    assert round_(ts) == WALL - 3 * DAY and ts.held_s == 0
    # ours owed a day ago, theirs (unfired, the other replica's) before our bound
    owed[:] = [("theirs-a", WALL - 5 * DAY), ("theirs-b", WALL - 2 * DAY), ("mine", WALL - DAY)]
    state["next_due"] = WALL - 5 * DAY
    assert round_(ts) == WALL - 3 * DAY and ts.held_s == DAY.total_seconds()
    # one replica (owns None): the earliest owed past the bound, as before
    ts.owned, ts.owns = None, None
    state["next_due"] = WALL - 2 * DAY
    round_(ts)
    assert ts.held_s == 2 * DAY.total_seconds()
