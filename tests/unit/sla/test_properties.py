import datetime as dt

from eventsourcing.persistence import JSONTranscoder, Transcoder
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.domain.calendar import SHANGHAI, WorkingCalendar, local_day
from services.sla.domain.clock import ClockError, TicketClock
from services.sla.domain.due import due_events, fire_due, first_due
from services.sla.domain.policy import load_policy, reply_deadline

POLICY = load_policy()
CALENDAR = WorkingCalendar()
GRADES = st.sampled_from(["urgent", "simple", "general", "complex", "not_allowed"])
# 2004..2028: covered years and provisional ones on both sides of the package's end.
MOMENTS = st.datetimes(
    min_value=dt.datetime(2004, 1, 1), max_value=dt.datetime(2028, 12, 20)
).map(lambda d: d.replace(tzinfo=SHANGHAI))


@settings(max_examples=300, deadline=None)
@given(accepted=MOMENTS, grade=GRADES)
def test_deadline_is_inside_working_time_and_after_acceptance(accepted, grade):
    due, explanation = reply_deadline(POLICY, CALENDAR, grade=grade, accepted_at=accepted)
    for deadline in filter(None, (due, explanation)):
        assert deadline.due_at > accepted
        assert CALENDAR.is_working_day(local_day(deadline.due_at)).working
        counted = CALENDAR.working_days_between(local_day(accepted), local_day(deadline.due_at))
        assert counted.value == deadline.working_days


@settings(max_examples=200, deadline=None)
@given(
    accepted=MOMENTS, grade=GRADES,
    pause_after=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=5)),
    pause_for=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=20)),
)
def test_pausing_never_shortens_a_deadline(accepted, grade, pause_after, pause_for):
    clock = TicketClock.start(POLICY, CALENDAR, ticket_id="T", clock_number=1, grade=grade,
                              accepted_at=accepted)
    before = clock.due_at
    paused_at = accepted + pause_after
    if paused_at > clock.due_at:
        return
    clock.pause(reason="等待市民", at=paused_at)
    clock.resume(POLICY, CALENDAR, at=paused_at + pause_for)
    assert clock.due_at >= before
    # the citizen's waiting time is given back: the unit has at least the time it had left
    left_before = CALENDAR.working_days_between(local_day(paused_at), local_day(before)).value
    left_after = CALENDAR.working_days_between(
        local_day(paused_at + pause_for), local_day(clock.due_at)).value
    assert left_after >= left_before - 1


def _transcoder() -> Transcoder:
    from eventsourcing.persistence import (
        DatetimeAsISO,
        DecimalAsStr,
        UUIDAsHex,
    )
    transcoder = JSONTranscoder()
    for t in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(t)
    return transcoder


def _run(script: list[tuple[str, int]], accepted: dt.datetime) -> list[bytes]:
    """Drives one clock through a scripted month and returns its events, encoded."""
    clock = TicketClock.start(POLICY, CALENDAR, ticket_id="T-R", clock_number=1,
                              grade="general", accepted_at=accepted)
    now = accepted
    for action, hours in script:
        now += dt.timedelta(hours=hours)
        fire_due(clock, now)
        if clock.status in ("met", "replied_late"):
            break
        if action == "pause" and clock.status == "running" and now <= clock.due_at:
            clock.pause(reason="等待市民", at=now)
        elif action == "resume" and clock.status == "paused":
            clock.resume(POLICY, CALENDAR, at=now)
        elif action == "extend" and clock.status == "running" and clock.extensions_approved < 2:
            if clock.pending_extension is None:
                clock.request_extension(POLICY, working_days=2, reason="r", requested_by="u", at=now)
            else:
                clock.approve_extension(POLICY, CALENDAR, approved_by="p", at=now)
        elif action == "reply":
            clock.record_reply(at=now)
    transcoder = _transcoder()
    return [transcoder.encode(e.__dict__) for e in clock.collect_events()]


@settings(max_examples=100, deadline=None)
@given(
    accepted=MOMENTS,
    script=st.lists(
        st.tuples(st.sampled_from(["tick", "pause", "resume", "extend", "reply"]),
                  st.integers(min_value=1, max_value=60)),
        max_size=25,
    ),
)
def test_the_same_sequence_replayed_gives_identical_events(accepted, script):
    assert _run(script, accepted) == _run(script, accepted)


def _first(clock: TicketClock, now: dt.datetime) -> dt.datetime | None:
    owed = due_events(clock, now)
    return owed[0].at if owed else None


@settings(max_examples=200, deadline=None)
@given(
    accepted=MOMENTS, grade=GRADES,
    script=st.lists(
        st.tuples(st.sampled_from(["tick", "fire", "assign", "sign", "pause", "resume",
                                   "extend", "reply"]),
                  st.integers(min_value=1, max_value=60)),
        max_size=25,
    ),
)
def test_first_due_is_the_first_of_due_events(accepted, grade, script):
    """`first_due` (the timer index's next instant, fire_ticket's next item) is what the
    first of `due_events` says, at any moment, in every state a script reaches."""
    far = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    clock = TicketClock.start(POLICY, CALENDAR, ticket_id="T-F", clock_number=1,
                              grade=grade, accepted_at=accepted)
    now = accepted
    for action, hours in script:
        now += dt.timedelta(hours=hours)
        for moment in (now, now - dt.timedelta(hours=hours // 2), far):
            assert first_due(clock, moment) == _first(clock, moment)
        if action == "fire":
            fire_due(clock, now)
        if clock.status in ("met", "replied_late"):
            break
        fire_due(clock, now - dt.timedelta(hours=hours // 2))
        if action == "assign" and clock.status == "running":
            clock.assign(POLICY, CALENDAR, unit=f"u{hours % 3}", at=max(now, clock.modified_on),
                         reason="assignment")
        elif action == "sign" and clock.unit is not None:
            try:
                clock.sign_for(unit=clock.unit, at=max(now, clock.modified_on))
            except ClockError:
                pass
        elif action == "pause" and clock.status == "running" and now <= clock.due_at:
            clock.pause(reason="等待市民", at=max(now, clock.modified_on))
        elif action == "resume" and clock.status == "paused":
            clock.resume(POLICY, CALENDAR, at=max(now, clock.modified_on))
        elif action == "extend" and clock.status == "running" and clock.extensions_approved < 2:
            at = max(now, clock.modified_on)
            if clock.pending_extension is None:
                clock.request_extension(POLICY, working_days=2, reason="r", requested_by="u",
                                        at=at)
            else:
                clock.approve_extension(POLICY, CALENDAR, approved_by="p", at=at)
        elif action == "reply" and clock.status not in ("stopped",):
            clock.record_reply(at=max(now, clock.modified_on))
    assert first_due(clock, far) == _first(clock, far)
