"""The sign-for deadline a unit is told is the one sla holds it to (session 17): dispatch wrote
`assigned + 2 h` into every assignment (`Assignment.sign_for_due_at`, the `late` of its
sign-for) while sla set, warned on and escalated on the end of the next working day for every
grade but urgent (docs/sla.md). A unit that signed for a general matter the next morning was
"late" in dispatch and on time in sla."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.dispatch.bootstrap import sla_sign_for_rule
from services.dispatch.domain.lifecycle import DispatchPolicy
from services.dispatch.domain.ticket_dispatch import TicketDispatch
from services.sla.application.schedules import load_schedule_files
from services.sla.domain.calendar import SHANGHAI, WorkingCalendar
from services.sla.domain.policy import load_policy, sign_for_deadline

FRIDAY = datetime(2026, 12, 11, 15, 0, tzinfo=SHANGHAI)
POLICY = DispatchPolicy(sign_for_counted=sla_sign_for_rule())


def classified(urgency: str) -> TicketDispatch:
    d = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-261211-00001-X", at=FRIDAY)
    d.classify(by="router", category="urban-management", subcategory="street-vending",
               request_type="complaint", urgency=urgency, confidence=0.99, source="auto")
    return d


def test_a_general_matter_is_signed_for_by_the_end_of_the_next_working_day():
    d = classified("general")
    d.assign(unit="yingzhou", by="router", at=FRIDAY, reason="路由表", policy=POLICY)
    monday_end = datetime(2026, 12, 14, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    assert d.sign_for_deadline == monday_end
    d.sign_for(unit="yingzhou", at=datetime(2026, 12, 14, 9, 0, tzinfo=SHANGHAI))
    assert d.collect_events()[-1].late is False  # sla: met, and so here


def test_an_urgent_one_within_two_calendar_hours_and_every_handover_counts_anew():
    d = classified("urgent")
    d.assign(unit="water", by="router", at=FRIDAY, reason="路由表", policy=POLICY)
    assert d.sign_for_deadline == FRIDAY + timedelta(hours=2)
    d.transfer(by="dispatcher-1", to_unit="power", reason="供电", at=FRIDAY + timedelta(hours=1),
               policy=POLICY)
    assert d.sign_for_deadline == FRIDAY + timedelta(hours=3)
    d.sign_for(unit="power", at=FRIDAY + timedelta(hours=4))
    assert d.collect_events()[-1].late is True


def test_the_rule_is_slas_for_every_grade():
    policy, calendar = load_policy(), WorkingCalendar()
    rule = sla_sign_for_rule()
    at = datetime(2026, 12, 7, 3, 32, tzinfo=UTC)
    for grade in ("urgent", "simple", "general", "complex"):
        assert rule(grade, at) == sign_for_deadline(policy, calendar, grade=grade,
                                                    assigned_at=at).due_at


def test_without_the_rule_or_an_urgency_the_hours_apply():
    d = TicketDispatch.open(ticket_id="t-2", ticket_code="FY-261211-00002-X", at=FRIDAY)
    d.assign(unit="yingzhou", by="dispatcher-1", at=FRIDAY, reason="人工派单", policy=POLICY)
    assert d.sign_for_deadline == FRIDAY + timedelta(hours=2)
    assert DispatchPolicy().sign_for_due("general", FRIDAY) == FRIDAY + timedelta(hours=2)


def test_the_rule_counts_the_official_schedules_sla_ships():
    """A general matter assigned on Friday 2027-02-05 is signed for by the end of the next
    working day: sla (its shipped 2027 schedule) does not count the Spring Festival's Monday
    2027-02-08, and neither may dispatch (it did: the unit was marked late a week early)."""
    policy, calendar = load_policy(), WorkingCalendar()
    load_schedule_files(calendar)
    at = datetime(2027, 2, 5, 7, 0, tzinfo=UTC)  # 15:00 in Fuyang
    due = sla_sign_for_rule()("general", at)
    assert due == sign_for_deadline(policy, calendar, grade="general", assigned_at=at).due_at
    assert due.astimezone(SHANGHAI).date() > date(2027, 2, 8)
