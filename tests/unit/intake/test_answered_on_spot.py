"""解惑: a hotline question answered during the call is decided instead of accepted, so it is
never dispatched; its one event carries the answer and its source (masked text only)."""

from __future__ import annotations

from datetime import date

import pytest

from services.intake.domain.channels import parse_channel_input, to_ticket_draft
from services.intake.domain.ticket import TicketAlreadyDecidedError
from services.intake.entrypoints.publications import PUBLIC
from tests.unit.intake.test_ticket import AT, new_ticket

CALL = {"channel": "hotline_12345", "request_id": "call-1", "call_id": "C-1",
        "caller_number": "13800000000", "operator_id": "op-17",
        "summary": "请问市政务服务中心周六上班吗"}
ANSWER = {"answer": "周六上午提供部分事项预约服务。", "source": "阜阳市政务服务管理局 办事指南",
          "source_date": "2026-09-01", "knowledge_ref": "1"}


def test_the_hotline_input_carries_the_answer_into_the_draft():
    draft = to_ticket_draft(parse_channel_input({**CALL, "answered_on_spot": ANSWER}))
    assert draft.answered_on_spot is not None
    assert draft.answered_on_spot.source_date == date(2026, 9, 1)
    assert to_ticket_draft(parse_channel_input(CALL)).answered_on_spot is None


def test_an_answer_without_its_source_is_refused():
    from services.intake.domain.channels import ChannelInputError
    with pytest.raises(ChannelInputError, match="source"):
        parse_channel_input({**CALL, "answered_on_spot": {"answer": "可以办理。"}})


def test_answering_decides_the_ticket_once_and_publishes_the_answer():
    ticket = new_ticket()
    ticket.answer_on_spot(answer_masked="周六上午可预约办理。", source="办事指南",
                          source_date="2026-09-01", knowledge_ref="1", operator_id="op-17",
                          at=AT)
    assert ticket.status == "answered_on_spot"
    with pytest.raises(TicketAlreadyDecidedError):
        ticket.accept(at=AT)
    event = ticket.collect_events()[-1]
    message = PUBLIC[type(event).__qualname__](event)
    assert type(message).__name__ == "TicketAnsweredOnSpot"
    assert (message.answer_masked, message.source, message.source_date, message.operator_id) == (
        "周六上午可预约办理。", "办事指南", "2026-09-01", "op-17")
