import datetime as dt

import pytest

from services.sla.domain.calendar import SHANGHAI
from services.sla.domain.policy import (
    Grade,
    PolicyError,
    SlaPolicy,
    reply_deadline,
    sign_for_deadline,
)

EOD = dt.time(23, 59, 59, 999999)


def end(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), EOD, tzinfo=SHANGHAI)


@pytest.mark.parametrize("grade, accepted, due", [
    ("urgent", "2024-09-26 09:00", "2024-09-29"),   # Thu -> Fri, make-up Sunday 09-29
    ("simple", "2024-09-30 16:00", "2024-10-09"),   # National Day in between
    ("general", "2024-09-30 16:00", "2024-10-12"),  # ends on the make-up Saturday
    ("general", "2025-01-24 10:00", "2025-02-07"),  # 01-26 Sun, 01-27, then 02-05..07
    ("urgent", "2024-06-08 11:00", "2024-06-12"),   # accepted Saturday: Sat not counted, 06-10 off
])
def test_reply_deadline_by_grade(policy, calendar, sh, grade, accepted, due):
    deadline, explanation = reply_deadline(policy, calendar, grade=grade, accepted_at=sh(accepted))
    assert deadline.due_at == end(due)
    assert explanation is None and not deadline.provisional


def test_saturday_acceptance_counts_like_friday(policy, calendar, sh):
    friday, _ = reply_deadline(policy, calendar, grade="general", accepted_at=sh("2024-11-15 23:00"))
    saturday, _ = reply_deadline(policy, calendar, grade="general", accepted_at=sh("2024-11-16 08:00"))
    assert friday.due_at == saturday.due_at == end("2024-11-22")


def test_complex_ticket_gets_an_explanation_deadline(policy, calendar, sh):
    due, explanation = reply_deadline(
        policy, calendar, grade=Grade.COMPLEX, accepted_at=sh("2024-11-04 10:00")
    )
    assert explanation is not None and explanation.due_at == end("2024-11-11")
    assert due.working_days == 15 and due.due_at == end("2024-11-25")
    longer, _ = reply_deadline(policy, calendar, grade="not_allowed",
                               accepted_at=sh("2024-11-04 10:00"), platform_working_days=30)
    assert longer.working_days == 30
    with pytest.raises(PolicyError, match=r"5\.\.30"):
        reply_deadline(policy, calendar, grade="complex", accepted_at=sh("2024-11-04 10:00"),
                       platform_working_days=31)
    with pytest.raises(PolicyError, match="no own deadline"):
        reply_deadline(policy, calendar, grade="general", accepted_at=sh("2024-11-04 10:00"),
                       platform_working_days=9)
    with pytest.raises(PolicyError, match="unknown grade"):
        reply_deadline(policy, calendar, grade="weird", accepted_at=sh("2024-11-04 10:00"))


def test_provisional_deadline_is_marked(policy, calendar, sh):
    due, _ = reply_deadline(policy, calendar, grade="general", accepted_at=sh("2026-12-29 10:00"))
    assert due.provisional and due.due_at == end("2027-01-06")  # 2027-01-01 guessed off


def test_sign_for_deadlines(policy, calendar, sh):
    urgent = sign_for_deadline(policy, calendar, grade="urgent", assigned_at=sh("2024-10-01 22:30"))
    assert urgent.due_at == sh("2024-10-02 00:30")  # calendar hours, even on a holiday
    general = sign_for_deadline(policy, calendar, grade="general", assigned_at=sh("2024-10-11 15:00"))
    assert general.due_at == end("2024-10-12")


def test_policy_without_a_grade_is_refused(policy):
    data = {
        "version": "x", "reply_working_days": {"urgent": 2},
        "long_handling": {"grades": [], "explanation_working_days": 5,
                          "default_working_days": 15, "max_working_days": 30},
        "sign_for": {"default": {"working_days": 1}}, "warnings": [],
        "extensions": {"max_approved": 2, "max_total_working_days": 10},
        "coordination": {"min_working_days_after_decision": 2},
        "supervision": {"answer_working_days": 1, "max_escalations": 2,
                        "supervision_office": "督查室"},
    }
    with pytest.raises(PolicyError, match="general"):
        SlaPolicy.from_dict(data)
    del data["sign_for"]
    with pytest.raises(PolicyError, match="malformed"):
        SlaPolicy.from_dict(data)
