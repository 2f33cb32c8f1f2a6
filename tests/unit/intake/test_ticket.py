from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from eventsourcing.application import Application

from services.intake.domain.ticket import (
    Case,
    PrimaryTicketUnlinkError,
    Ticket,
    TicketAlreadyDecidedError,
    TicketAlreadyInCaseError,
    TicketAlreadyMergedError,
    TicketErasedError,
    TicketNotAcceptedError,
    TicketNotInCaseError,
    TicketNotMergedError,
)
from services.intake.domain.ticket_code import issue_code

AT = datetime(2025, 11, 27, 9, 30, tzinfo=UTC)


def new_ticket(seq=1):
    return Ticket(code=issue_code("FY", date(2025, 11, 27), seq), channel="web", masked_text="路灯不亮",
                  masked_title=None, category_hint="路灯", place={"lat": 32.89, "lon": 115.81},
                  citizen="ab" * 32, masked_contact={"name": "张*", "phone": "138****5678"},
                  requester_kind="citizen", attachment_refs=["0" * 64], idempotency_key=f"web:{seq}", adapter_id="web-1", external_ref="",
                  timestamp=AT)


def test_id_is_deterministic_from_code():
    t = new_ticket()
    assert t.id == Ticket.create_id(t.code) == Ticket.create_id(t.code.lower().replace("-", ""))


def test_decision_is_taken_once_and_rejected_keeps_code():
    t = new_ticket()
    t.reject(reason_code="empty", reason_text_zh="内容为空")
    with pytest.raises(TicketAlreadyDecidedError):
        t.accept()
    assert t.status == "rejected" and t.code
    with pytest.raises(TicketNotAcceptedError):
        t.merge_into(case_id=uuid4())


def test_merge_unmerge_reply_erase_and_replay():
    app = Application()
    t = new_ticket()
    t.accept(flags=["outside_city"])
    case = Case(primary_code=t.code, primary_ticket_id=t.id, category="路灯", timestamp=AT)
    other = new_ticket(2)
    other.accept()
    case.link(code=other.code, ticket_id=other.id, score=0.8, by="detector")
    other.merge_into(case_id=case.id)
    with pytest.raises(TicketAlreadyMergedError):
        other.merge_into(case_id=case.id)
    with pytest.raises(TicketAlreadyInCaseError):
        case.link(code=other.code, ticket_id=other.id, score=0.8, by="detector")
    case.confirm(code=other.code, by="dispatcher-7")
    assert case.ticket_codes == sorted([t.code, other.code])
    with pytest.raises(PrimaryTicketUnlinkError):
        case.unlink(code=t.code, by="dispatcher-7", reason="误判")
    for ticket in (t, other):
        ticket.deliver_reply(reply_id="r1", unit="城管局", masked_text="已修复", via_case=case.id)
        ticket.deliver_reply(reply_id="r1", unit="城管局", masked_text="已修复", via_case=case.id)
        assert len(ticket.replies) == 1
    case.unlink(code=other.code, by="dispatcher-7", reason="不是同一盏灯")
    other.unmerge(case_id=case.id, reason="不是同一盏灯")
    with pytest.raises(TicketNotMergedError):
        other.unmerge(case_id=case.id, reason="again")
    with pytest.raises(TicketNotInCaseError):
        case.confirm(code=other.code, by="x")
    other.erase_identity()
    with pytest.raises(TicketErasedError):
        other.erase_identity()
    app.save(t, other, case)
    copy = app.repository.get(other.id)
    assert copy.erased and copy.masked_contact is None and copy.case_id is None
    names = [type(e).__name__ for e in app.repository.event_store.get(other.id)]
    assert names == ["Submitted", "Accepted", "MergedIntoCase", "ReplyDelivered", "UnmergedFromCase",
                     "IdentityErased"]
    assert app.repository.get(case.id).ticket_codes == [t.code]
