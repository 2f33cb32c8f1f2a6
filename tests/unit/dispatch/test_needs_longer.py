"""需较长时间办理 (MISSION fact 6): a needs_longer reply is an interim answer, not the end.

Accepted, it is told to the citizen (why, and by when), but the unit keeps the ticket, may
note progress and replies again with a final outcome; only that one closes the ticket."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.dispatch.application.publishing import PAYLOADS
from services.dispatch.domain.errors import IllegalTransitionError, InvalidExpectedDateError
from services.dispatch.domain.lifecycle import DispatchState
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)
LATER = date(2026, 12, 20)


def signed_for() -> TicketDispatch:
    d = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-1", at=T0)
    d.assign(unit="housing", by="router", at=T0, reason="路由表v1")
    d.sign_for(unit="housing", at=T0 + H)
    return d


def published(d: TicketDispatch, name: str) -> list:
    """The payloads the relay publishes for the last pending event named `name` (the
    pending events are collected: each step is checked as it leaves the ticket)."""
    [event] = [e for e in d.collect_events() if type(e).__name__ == name][-1:]
    return [payload for payload, _ in PAYLOADS[name](event, d, lambda _: None)]


def test_a_needs_longer_reply_must_say_by_when_and_only_it_may():
    d = signed_for()
    with pytest.raises(InvalidExpectedDateError):
        d.reply(unit="housing", reply="需协调多个部门", outcome="needs_longer", at=T0 + 2 * H)
    with pytest.raises(InvalidExpectedDateError):
        d.reply(unit="housing", reply="已修好", outcome="resolved", at=T0 + 2 * H,
                expected_by=LATER)
    with pytest.raises(InvalidExpectedDateError):  # 2026-11-26 is already past in the city
        d.reply(unit="housing", reply="需排期", outcome="needs_longer", at=T0 + 2 * H,
                expected_by=date(2026, 11, 26))
    d.reply(unit="housing", reply="需排期", outcome="needs_longer", at=T0 + 2 * H,
            expected_by=LATER)
    assert (d.state, d.expected_by) == (DispatchState.REPLIED, "2026-12-20")


def test_an_accepted_needs_longer_reply_leaves_the_ticket_with_its_unit_until_the_final_one():
    d = signed_for()
    d.reply(unit="housing", reply="需协调多个部门，预计月底完成", outcome="needs_longer",
            at=T0 + 2 * H, expected_by=LATER)
    [replied] = published(d, "Replied")
    assert replied.expected_by == "2026-12-20"
    d.accept_reply(by="dispatcher-1", at=T0 + 3 * H, comment="同意")
    [review] = published(d, "ReplyAccepted")
    assert (review.accepted, review.interim, review.expected_by, review.outcome) == (
        True, True, "2026-12-20", "needs_longer")
    # nothing closes: the unit still holds it and works on
    assert not d.answered
    assert (d.state, d.owner) == (DispatchState.IN_PROGRESS, "housing")
    with pytest.raises(IllegalTransitionError):
        d.close(by="dispatcher-1", at=T0 + 3 * H)
    d.note_progress(unit="housing", note="已完成招标", at=T0 + 4 * H)
    d.request_extension(unit="housing", working_days=5, reason="施工期", at=T0 + 4 * H)
    # the final reply is reviewed as any other, and only it closes the ticket
    d.reply(unit="housing", reply="已修复完毕", outcome="resolved", at=T0 + 5 * H)
    assert d.expected_by is None
    d.accept_reply(by="dispatcher-1", at=T0 + 6 * H)
    assert d.answered
    [final] = published(d, "ReplyAccepted")
    assert (final.accepted, final.interim, final.outcome) == (True, False, "resolved")
    d.close(by="dispatcher-1", at=T0 + 6 * H)
    assert d.state is DispatchState.CLOSED
