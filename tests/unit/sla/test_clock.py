import datetime as dt

import pytest
from eventsourcing.application import Application

from services.sla.domain.calendar import SHANGHAI, OfficialSchedule
from services.sla.domain.clock import (
    AssignmentError,
    ClockNotPausedError,
    ClockNotRunningError,
    ClockSettledError,
    ClockTimeError,
    ExtensionCapError,
    ExtensionPendingError,
    NoExtensionPendingError,
    TicketClock,
)
from services.sla.domain.due import due_events, fire_due

EOD = dt.time(23, 59, 59, 999999)


def end(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), EOD, tzinfo=SHANGHAI)


@pytest.fixture
def clock(policy, calendar, sh):
    # general ticket accepted Mon 2024-11-04: due end of Mon 2024-11-11
    return TicketClock.start(policy, calendar, ticket_id="T-1", clock_number=1,
                             grade="general", accepted_at=sh("2024-11-04 10:00"))


def kinds(items):
    return [i.kind for i in items]


def test_start_sets_a_deterministic_id_and_deadline(clock):
    assert clock.id == TicketClock.create_id("T-1", 1) != TicketClock.create_id("T-1", 2)
    assert clock.due_at == end("2024-11-11") and not clock.provisional
    assert set(clock.warn_at) == {"half_time", "one_day_left"}


def test_warnings_and_overdue_fire_once_each_at_their_instants(clock, sh):
    assert due_events(clock, sh("2024-11-07 23:00")) == []
    fired = fire_due(clock, sh("2024-11-13 09:00"))  # service down for days: all fire, in order
    assert kinds(fired) == ["half_time", "one_day_left", "overdue"]
    assert [f.at for f in fired] == [sh("2024-11-08 00:00"), sh("2024-11-11 00:00"),
                                     end("2024-11-11") + dt.timedelta(microseconds=1)]
    assert due_events(clock, sh("2024-11-20 09:00")) == []
    assert fire_due(clock, sh("2024-11-20 09:00")) == []
    assert clock.status == "overdue"
    clock.record_reply(at=sh("2024-11-14 10:00"))
    assert clock.status == "replied_late"
    names = [type(e).__name__ for e in clock.collect_events()]
    assert names == ["Started", "Warned", "Warned", "Missed", "RepliedLate"]


def test_reply_in_time_is_met_and_settles(clock, sh):
    clock.record_reply(at=end("2024-11-11"))
    assert clock.status == "met"
    assert due_events(clock, sh("2024-12-01 00:00")) == []
    with pytest.raises(ClockSettledError, match="met"):
        clock.pause(reason="x", at=sh("2024-11-12 00:00"))


def test_pause_shifts_by_paused_working_time(clock, policy, calendar, sh):
    clock.pause(reason="等待市民补充材料", at=sh("2024-11-06 10:00"))
    assert due_events(clock, sh("2024-11-20 00:00")) == []  # nothing fires while paused
    with pytest.raises(ClockNotRunningError):
        clock.pause(reason="again", at=sh("2024-11-06 11:00"))
    clock.resume(policy, calendar, at=sh("2024-11-07 09:00"))  # 23 h on working days -> 1 day
    assert clock.due_at == end("2024-11-12")
    with pytest.raises(ClockNotPausedError):
        clock.resume(policy, calendar, at=sh("2024-11-07 10:00"))


def test_pause_over_a_weekend_gives_nothing(clock, policy, calendar, sh):
    clock.pause(reason="等待市民", at=sh("2024-11-09 00:00"))
    clock.resume(policy, calendar, at=sh("2024-11-11 00:00"))
    assert clock.due_at == end("2024-11-11")


def test_extension_lifecycle_and_caps(clock, policy, calendar, sh):
    with pytest.raises(NoExtensionPendingError):
        clock.approve_extension(policy, calendar, approved_by="平台", at=sh("2024-11-05 09:00"))
    clock.request_extension(policy, working_days=3, reason="需现场勘查", requested_by="城管局",
                            at=sh("2024-11-05 09:00"))
    with pytest.raises(ExtensionPendingError):
        clock.request_extension(policy, working_days=1, reason="x", requested_by="城管局",
                                at=sh("2024-11-05 09:30"))
    with pytest.raises(ExtensionCapError, match="when 3 were asked"):
        clock.approve_extension(policy, calendar, approved_by="平台", at=sh("2024-11-05 10:00"),
                                working_days=4)
    clock.approve_extension(policy, calendar, approved_by="平台", at=sh("2024-11-05 10:00"))
    assert clock.due_at == end("2024-11-14")
    clock.request_extension(policy, working_days=7, reason="x", requested_by="城管局",
                            at=sh("2024-11-06 09:00"))
    clock.refuse_extension(reason="理由不充分", refused_by="平台", at=sh("2024-11-06 10:00"))
    with pytest.raises(ExtensionCapError, match="max 10"):
        clock.request_extension(policy, working_days=8, reason="x", requested_by="城管局",
                                at=sh("2024-11-06 11:00"))
    clock.request_extension(policy, working_days=7, reason="x", requested_by="城管局",
                            at=sh("2024-11-06 11:00"))
    clock.approve_extension(policy, calendar, approved_by="平台", at=sh("2024-11-06 12:00"))
    assert clock.due_at == end("2024-11-25")
    with pytest.raises(ExtensionCapError, match="already 2 extensions"):
        clock.request_extension(policy, working_days=1, reason="x", requested_by="城管局",
                                at=sh("2024-11-07 09:00"))


def test_an_extension_rearms_the_warnings(clock, policy, calendar, sh):
    assert kinds(fire_due(clock, sh("2024-11-08 00:00"))) == ["half_time"]
    clock.request_extension(policy, working_days=5, reason="x", requested_by="u", at=sh("2024-11-08 09:00"))
    clock.approve_extension(policy, calendar, approved_by="p", at=sh("2024-11-08 10:00"))
    assert kinds(fire_due(clock, sh("2024-11-18 00:00"))) == ["half_time", "one_day_left"]


def test_commands_cannot_go_back_in_time(clock, sh):
    with pytest.raises(ClockTimeError, match="before the clock's last event"):
        clock.pause(reason="x", at=sh("2024-11-04 09:00"))


def test_sign_for_overdue_and_transfer(clock, policy, calendar, sh):
    clock.assign(policy, calendar, unit="城管局", at=sh("2024-11-04 11:00"))
    with pytest.raises(AssignmentError, match="is with 城管局"):
        clock.sign_for(unit="房产局", at=sh("2024-11-04 12:00"))
    assert kinds(fire_due(clock, sh("2024-11-06 00:00"))) == ["sign_for_overdue"]
    clock.bounce_back(unit="城管局", reason="不属于本单位保洁范围", at=sh("2024-11-06 09:00"))
    clock.assign(policy, calendar, unit="清河街道", reason="transfer", at=sh("2024-11-06 10:00"))
    clock.sign_for(unit="清河街道", at=sh("2024-11-06 11:00"))
    assert clock.due_at == end("2024-11-11")  # a transfer does not stop or reset the clock
    assert "sign_for_overdue" not in kinds(due_events(clock, sh("2024-11-08 09:00")))


def test_coordination_grants_minimum_time_never_less(clock, policy, calendar, sh):
    clock.coordinate(policy, calendar, lead_unit="清河街道", at=sh("2024-11-05 10:00"))
    assert clock.due_at == end("2024-11-11")  # already more than 2 days left
    fire_due(clock, sh("2024-11-12 00:00"))
    assert clock.status == "overdue"
    clock.coordinate(policy, calendar, lead_unit="清河街道", at=sh("2024-11-12 09:00"))
    assert clock.due_at == end("2024-11-14") and clock.status == "running"


def test_complex_ticket_explanation_overdue(policy, calendar, sh):
    clock = TicketClock.start(policy, calendar, ticket_id="T-2", clock_number=1,
                              grade="complex", accepted_at=sh("2024-11-04 10:00"))
    assert kinds(fire_due(clock, sh("2024-11-12 00:00"))) == ["explanation_overdue"]
    clock.explain(at=sh("2024-11-12 09:00"))
    other = TicketClock.start(policy, calendar, ticket_id="T-3", clock_number=1,
                              grade="complex", accepted_at=sh("2024-11-04 10:00"))
    other.explain(at=sh("2024-11-08 09:00"))
    assert "explanation_overdue" not in kinds(due_events(other, sh("2024-11-12 00:00")))


def test_an_explanation_the_platform_accepts_as_the_answer_settles_the_clock(policy, calendar, sh):
    """A complex ticket explained in time and closed on that explanation (dispatch accepts the
    reply and closes) is met: it was only stopped at the close, and its timely reply counted
    as late in the on-time rate and the 亮晒比 score (found on the running platform)."""
    clock = TicketClock.start(policy, calendar, ticket_id="T-5", clock_number=1,
                              grade="complex", accepted_at=sh("2024-11-04 10:00"))
    clock.explain(at=sh("2024-11-06 09:00"))
    assert clock.status == "running"  # the explanation alone: the handling may follow
    assert clock.answer_accepted(at=sh("2024-11-06 09:00"))
    assert clock.status == "met"
    assert not clock.answer_accepted(at=sh("2024-11-06 10:00"))  # once
    late = TicketClock.start(policy, calendar, ticket_id="T-6", clock_number=1,
                             grade="complex", accepted_at=sh("2024-11-04 10:00"))
    late.explain(at=sh("2024-11-06 09:00"))
    fire_due(late, late.due_at + dt.timedelta(hours=1))
    assert late.answer_accepted(at=late.due_at + dt.timedelta(hours=2))
    assert late.status == "replied_late"
    # a plain reply settled its clock already; one not yet explained waits for its reply
    replied = TicketClock.start(policy, calendar, ticket_id="T-7", clock_number=1,
                                grade="general", accepted_at=sh("2024-11-04 10:00"))
    replied.record_reply(at=sh("2024-11-05 10:00"))
    assert not replied.answer_accepted(at=sh("2024-11-05 10:00")) and replied.status == "met"
    waiting = TicketClock.start(policy, calendar, ticket_id="T-8", clock_number=1,
                                grade="complex", accepted_at=sh("2024-11-04 10:00"))
    assert not waiting.answer_accepted(at=sh("2024-11-05 10:00"))
    assert waiting.status == "running"


def test_recompute_when_the_official_schedule_arrives(policy, sh):
    from services.sla.domain.calendar import WorkingCalendar

    calendar = WorkingCalendar()
    clock = TicketClock.start(policy, calendar, ticket_id="T-4", clock_number=1,
                              grade="general", accepted_at=sh("2027-02-03 10:00"))
    assert clock.provisional and clock.due_at == end("2027-02-10")
    assert not clock.recompute(policy, calendar, at=sh("2027-02-04 10:00"))  # still a guess
    calendar.load_year(OfficialSchedule.from_dict({
        "year": 2027, "source": "test fixture (not official)",
        "holidays": ["2027-02-05", "2027-02-08", "2027-02-09"],
        "make_up_working_days": ["2027-02-06"],
    }))
    assert clock.recompute(policy, calendar, at=sh("2027-02-04 11:00"))
    # 02-04 Thu, 02-06 make-up Sat, 02-10 Wed, 02-11, 02-12: later than the guess (02-10)
    assert not clock.provisional and clock.due_at == end("2027-02-12")
    assert not clock.recompute(policy, calendar, at=sh("2027-02-04 12:00"))
    event = clock.collect_events()[-1]
    assert type(event).__name__ == "Recomputed" and event.previous_due_at == end("2027-02-10")


def test_events_round_trip_through_the_event_store(clock, policy, calendar, sh):
    clock.assign(policy, calendar, unit="城管局", at=sh("2024-11-04 11:00"))
    clock.pause(reason="等待市民", at=sh("2024-11-05 10:00"))
    clock.resume(policy, calendar, at=sh("2024-11-06 10:00"))
    fire_due(clock, sh("2024-11-09 00:00"))
    app = Application()
    app.save(clock)
    copy = app.repository.get(clock.id)
    assert copy.due_at == clock.due_at and copy.fired == clock.fired
    assert copy.warn_at == clock.warn_at and copy.adjustments == clock.adjustments
    assert due_events(copy, sh("2024-11-30 00:00")) == due_events(clock, sh("2024-11-30 00:00"))
