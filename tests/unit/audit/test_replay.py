"""A ticket's state at any past moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.audit.domain.replay import (
    FOLD_RULES,
    FoldRule,
    ReplayError,
    TicketState,
    replay,
    state_at,
)

T = datetime(2023, 11, 20, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


HISTORY = [
    ("TicketSubmitted", at(0), {"ticket_code": "FY20231120-0001", "text": "小区门口垃圾无人清运"}),
    ("TicketAccepted", at(0.5), {}),
    ("DeadlineSet", at(0.5), {"due_at": "2023-11-27T09:00:00+00:00", "urgency": "general"}),
    ("TicketAssigned", at(1), {"unit": "城管局"}),
    ("AssignmentBouncedBack", at(5), {"unit": "城管局", "reason": "不属于我局保洁范围"}),
    ("TicketAssigned", at(6), {"unit": "清河街道", "role": "lead"}),
    ("TicketAssigned", at(6), {"unit": "城南新区物业办", "role": "co_handling"}),
    ("AssignmentSignedFor", at(7), {"unit": "清河街道"}),
    ("SupervisionOrdered", at(20), {"by": "督查室"}),  # a type the table does not know yet
    ("AssignmentReplied", at(30), {"reply_masked": "已组织物业公司清运完毕"}),
    ("DeadlineMet", at(30), {}),
    ("CitizenNotified", at(31), {"reply_masked": "已组织物业公司清运完毕", "channel": "hotline",
                                 "rating_due_at": "2023-11-28T10:00:00Z"}),
    ("TicketRated", at(40), {"rating": "satisfied"}),
    ("TicketClosed", at(40), {}),
]


def test_state_before_anything_happened_is_empty() -> None:
    assert state_at(HISTORY, at(-1)) == TicketState()


def test_state_while_bounced_back_has_no_owner() -> None:
    s = state_at(HISTORY, at(5.5))
    assert (s.status, s.owner_unit, s.ticket_code) == ("bounced_back", None, "FY20231120-0001")
    assert s.deadline == datetime(2023, 11, 27, 9, tzinfo=UTC) and s.deadline_status == "running"
    assert s.told == ()


def test_state_after_the_new_unit_signed_for() -> None:
    s = state_at(HISTORY, at(25))
    assert (s.status, s.owner_unit) == ("signed_for", "清河街道")
    assert s.unknown_events == ("SupervisionOrdered",) and s.events_applied == 9


def test_final_state_knows_what_the_citizen_was_told() -> None:
    s = replay(HISTORY)[-1]
    assert (s.status, s.rating, s.deadline_status) == ("closed", "satisfied", "met")
    assert [(m.told_at, m.event_type, m.text) for m in s.told] == [
        (at(31), "CitizenNotified", "已组织物业公司清运完毕")
    ]
    assert s.as_of == at(40)


def test_a_reply_not_yet_delivered_was_not_told_to_the_citizen() -> None:
    s = state_at(HISTORY, at(30))
    assert s.status == "replied" and s.told == ()


def test_rejection_reason_is_what_the_citizen_was_told() -> None:
    s = replay(
        [
            ("TicketSubmitted", at(0), {}),
            ("TicketRejected", at(1), {"reason_code": "duplicate", "reason_text": "重复诉求"}),
        ]
    )[-1]
    assert s.status == "rejected" and s.told[0].text == "重复诉求"


def test_events_out_of_time_order_are_refused() -> None:
    with pytest.raises(ReplayError):
        replay([("TicketAccepted", at(1), {}), ("TicketSubmitted", at(0), {})])


def test_a_new_event_type_is_one_more_row() -> None:
    rules = {**FOLD_RULES, "TicketMergedIntoCase": FoldRule(status="merged")}
    assert replay([*HISTORY, ("TicketMergedIntoCase", at(50), {})], rules)[-1].status == "merged"


def test_every_rule_names_an_event_type_of_the_catalogue() -> None:
    from backbone.events import catalogue

    assert set(FOLD_RULES) <= set(catalogue())
    assert "CitizenNotified" in FOLD_RULES and FOLD_RULES["CitizenNotified"].tell


def test_every_lifecycle_event_of_the_catalogue_has_a_rule() -> None:
    """An event type of today's catalogue is not "unknown": the state of a merged ticket read
    `assigned`, owner and clock running, with TicketMergedIntoCase, AssignmentWithdrawn and
    ClockStopped listed as events this build cannot fold. Analytics' own events (a month's
    flags, hot topics, surges) are not a ticket's."""
    from backbone.events import catalogue

    not_a_tickets = {"RectificationFlagged", "HotTopicReported", "SurgeDetected"}
    assert set(catalogue()) - not_a_tickets - set(FOLD_RULES) == set()


def test_a_ticket_merged_into_a_case_is_merged_with_no_owner_and_its_clock_stopped() -> None:
    s = replay([
        ("TicketSubmitted", at(0), {"ticket_code": "FY-231120-00002-L"}),
        ("TicketAccepted", at(0), {}),
        ("TicketMergedIntoCase", at(0.1), {"primary_code": "FY-231118-00008-L", "score": 0.8}),
        ("DeadlineSet", at(0.1), {"due_at": "2023-11-27T09:00:00+00:00"}),
        ("TicketAssigned", at(0.2), {"unit": "urban-mgmt"}),
        ("AssignmentWithdrawn", at(0.2), {"unit": "urban-mgmt", "reason": "并单", "case_id": "c1"}),
        ("SignForDeadlineSet", at(0.2), {"unit": "urban-mgmt", "sign_for_due_at": "x"}),
        ("ClockStopped", at(0.2), {"reason": "merged", "unit": "urban-mgmt"}),
    ])[-1]
    assert (s.status, s.owner_unit, s.deadline_status) == ("merged", None, "stopped")
    assert s.unknown_events == ()


def test_an_answer_on_the_spot_and_a_reviewed_reply() -> None:
    on_spot = replay([("TicketSubmitted", at(0), {}),
                      ("TicketAnsweredOnSpot", at(0), {"answer_masked": "工作日9:00上班"})])
    assert on_spot[-1].status == "answered_on_spot"
    reviewed = [("TicketAssigned", at(1), {"unit": "u"}), ("AssignmentSignedFor", at(2), {}),
                ("AssignmentReplied", at(3), {"reply_masked": "已处理"})]
    returned = replay([*reviewed, ("ReplyReviewed", at(4), {"reason": "答复不完整"})])[-1]
    assert returned.status == "reply_returned"
    closed = replay([*reviewed, ("ReplyReviewed", at(4), {"accepted": True}),
                     ("DispatchClosed", at(4), {"unit": "u"})])[-1]
    assert (closed.status, closed.owner_unit, closed.unknown_events) == ("dispatch_closed", "u", ())
    late = replay([("DeadlineSet", at(0), {"due_at": "2023-11-21T09:00:00+00:00"}),
                   ("DeadlineRepliedLate", at(30), {"due_at": "2023-11-21T09:00:00+00:00"})])
    assert late[-1].deadline_status == "replied_late"


def test_a_ticket_taken_out_of_its_case_is_as_it_was_before() -> None:
    """Seen on the demo platform: a closed ticket merged into a case and taken out again read
    `accepted` (an unmerge reopens nothing)."""
    closed = [("TicketSubmitted", at(0), {}), ("TicketAccepted", at(0), {}),
              ("TicketClosed", at(40), {"rating": "satisfied"})]
    out = [("TicketMergedIntoCase", at(50), {"primary_code": "FY-231118-00008-L"}),
           ("TicketUnmergedFromCase", at(51), {"reason": "不是同一件事"})]
    states = replay([*closed, *out])
    assert [s.status for s in states[-2:]] == ["merged", "closed"]
    open_one = replay([("TicketSubmitted", at(0), {}), ("TicketAccepted", at(0), {}), *out])
    assert open_one[-1].status == "accepted"
