"""State at a moment around a needs_longer reply (需较长时间办理): the citizen was told why and
by when, but the ticket is still in the unit's hands until the final reply answers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.audit.domain.replay import state_at

T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T + timedelta(hours=hours)


# payloads as audit stores them (proto JSON: a false bool and an unset message are left out)
HISTORY = [
    ("TicketSubmitted", at(0), {"ticket_code": "FY-261120-00001-A"}),
    ("TicketAccepted", at(0.5), {}),
    ("TicketAssigned", at(1), {"unit": "housing", "role": "lead"}),
    ("AssignmentSignedFor", at(2), {"unit": "housing"}),
    ("AssignmentReplied", at(3), {"unit": "housing", "outcome": "needs_longer",
                                  "expected_by": "2026-12-20", "reply_masked": "需协调施工"}),
    ("ReplyReviewed", at(3), {"unit": "housing", "accepted": True, "interim": True,
                              "outcome": "needs_longer", "expected_by": "2026-12-20"}),
    ("CitizenNotified", at(3.1), {"outcome": "needs_longer", "reply_masked": "需协调施工",
                                  "channel": "web"}),
    ("AssignmentProgressNoted", at(20), {"unit": "housing", "note_masked": "已开工"}),
    ("AssignmentReplied", at(40), {"unit": "housing", "outcome": "resolved",
                                   "reply_masked": "已修复"}),
    ("ReplyReviewed", at(40), {"unit": "housing", "accepted": True, "outcome": "resolved"}),
    ("DispatchClosed", at(40), {"unit": "housing"}),
    ("CitizenNotified", at(40.1), {"outcome": "resolved", "reply_masked": "已修复",
                                   "channel": "web", "rating_due_at": "2026-11-29T01:00:00Z",
                                   "reply_round": 1}),
    ("TicketRated", at(41), {"rating": "satisfied"}),
    ("TicketClosed", at(41), {"rating": "satisfied"}),
]


def test_told_it_needs_longer_is_in_progress_with_the_unit_not_answered():
    told = state_at(HISTORY, at(10))
    assert (told.status, told.owner_unit) == ("in_progress", "housing")
    assert [m.text for m in told.told] == ["需协调施工"]
    assert state_at(HISTORY, at(3)).status == "in_progress"  # accepted as interim
    assert state_at(HISTORY, at(20)).status == "in_progress"
    assert state_at(HISTORY, at(40.1)).status == "answered"
    done = state_at(HISTORY, at(41))
    assert (done.status, done.rating) == ("closed", "satisfied")


def test_a_reply_sent_back_is_returned_and_a_final_accepted_one_changes_nothing():
    sent_back = [*HISTORY[:5], ("ReplyReviewed", at(3), {"unit": "housing", "reason": "不完整"})]
    assert state_at(sent_back, at(4)).status == "reply_returned"
    accepted = [*HISTORY[:4], HISTORY[8], HISTORY[9]]
    assert state_at(accepted, at(40)).status == "replied"
