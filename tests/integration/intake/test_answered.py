"""已答复 through the running service: feedback's answer arrives on the lifecycle topic (published
here as feedback would), then the same citizen submits the same matter again over HTTP and
over the bus: rejected with the earlier code and date. Everyone and everything else: accepted.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from minsheng.v1 import dispatch_events_pb2 as de
from minsheng.v1 import feedback_events_pb2 as fe

from backbone import events
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.domain.answered import answered_on
from tests.integration.intake.test_bus import replies_for, to_request
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration

MATTER = "颍州区清河街道幸福家园3栋楼道的声控灯坏了半个月，晚上上下楼看不见，老人摔了一跤"
OTHER_MATTER = "幸福家园小区门口的垃圾桶满了好几天没人清运，臭味很大，苍蝇很多"


def _phone() -> str:
    return f"137{uuid.uuid4().int % 10**8:08d}"


def _request(text: str, phone: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"channel": "wechat_mini", "request_id": uuid.uuid4().hex,
                            "text": text, "location": {"lat": 32.89, "lon": 115.81}, **extra}
    if phone:
        body["contact"] = {"name": "赵丽", "phone": phone}
    return body


class Feedback:
    """Publishes what feedback would publish about a ticket, on intake's isolated topics."""

    def __init__(self, intake: Any):
        self.intake = intake
        self.index = TicketIndex(intake.service.infra.pool, intake.settings.schema)

    async def _publish(self, ticket: dict[str, Any], payload: Any, at: datetime) -> None:
        env = events.make_envelope(
            payload=payload, event_id=str(uuid.uuid4()), ticket_id=ticket["ticket_id"],
            ticket_code=ticket["code"], producer="feedback", occurred_at=at,
            actor=events.actor("system", "feedback"))
        await self.intake.publish("tickets.events", ticket["ticket_id"], env.SerializeToString())

    async def answered(self, ticket: dict[str, Any], at: datetime) -> None:
        due = fe.CitizenNotified().rating_due_at
        due.FromDatetime(at + timedelta(days=3))
        await self._publish(ticket, fe.CitizenNotified(
            channel="wechat_mini", unit="YZ-QHJD", outcome="resolved",
            reply_masked="已安排物业更换声控灯", reply_round=1, rating_due_at=due), at)
        await self.seen(ticket, lambda row: row.get("answered_at") == at)

    async def told_it_needs_longer(self, ticket: dict[str, Any], at: datetime) -> None:
        """A notice that only explains a delay, then a later fact on the same partition to
        know intake consumed the notice."""
        await self._publish(ticket, fe.CitizenNotified(
            channel="wechat_mini", unit="YZ-QHJD", outcome="needs_longer",
            reply_masked="需协调多个部门，预计两周内处理", reply_round=1), at)
        env = events.make_envelope(
            payload=de.TicketAssigned(unit="YZ-LATER", assignment_no=2, role="lead"),
            event_id=str(uuid.uuid4()), ticket_id=ticket["ticket_id"],
            ticket_code=ticket["code"], producer="dispatch", occurred_at=at,
            actor=events.actor("system", "dispatch"))
        await self.intake.publish("tickets.events", ticket["ticket_id"], env.SerializeToString())
        await self.seen(ticket, lambda row: row.get("unit") == "YZ-LATER")

    async def closed(self, ticket: dict[str, Any], at: datetime) -> None:
        await self._publish(ticket, fe.TicketClosed(unit="YZ-QHJD", rating="satisfied",
                                                    reply_round=1), at)
        await self.seen(ticket, lambda row: row.get("status") == "closed")

    async def reopened(self, ticket: dict[str, Any], at: datetime) -> None:
        await self._publish(ticket, fe.TicketReopened(reopen_count=1, reason="没修好",
                                                      unit="YZ-QHJD", confirmed_by="staff",
                                                      reply_round=1), at)
        await self.seen(ticket, lambda row: row.get("status") == "reopened")

    async def seen(self, ticket: dict[str, Any], until: Any) -> dict[str, Any]:
        """Intake's read model once it shows the fact (and the projected ticket) ."""
        async def row() -> dict[str, Any] | None:
            found = await asyncio.to_thread(self.index.by_id, ticket["ticket_id"])
            return found if found and found.get("citizen") is not None and until(found) else None
        return await eventually_async(row, timeout=30, interval=0.1,
                                      what=f"intake to record the fact about {ticket['code']}")


async def _submit(adapter: Any, text: str, phone: str | None, **extra: Any) -> dict[str, Any]:
    response = await adapter.post("/v1/requests", json=_request(text, phone, **extra))
    assert response.status_code == 201, response.text
    return response.json()


async def _answered_ticket(intake: Any, adapter: Any, phone: str, answered_at: datetime,
                           **extra: Any) -> dict[str, Any]:
    first = await _submit(adapter, MATTER, phone, **extra)
    assert first["status"] == "accepted"
    await Feedback(intake).answered(first, answered_at)
    return first


def _is_already_answered(body: dict[str, Any], earlier: dict[str, Any], at: datetime) -> None:
    assert body["status"] == "rejected", body
    assert body["rejection"]["reason_code"] == "already_answered"
    text = body["rejection"]["reason_text"]
    assert earlier["code"] in text and answered_on(at) in text
    assert body["code"] != earlier["code"]  # the rejected request keeps a code of its own


async def test_the_same_citizen_repeating_an_answered_matter_is_rejected_by_http_and_bus(intake):
    phone, at = _phone(), datetime.now(UTC) - timedelta(days=2)
    async with intake.client() as adapter:
        first = await _answered_ticket(intake, adapter, phone, at)
        again = await _submit(adapter, MATTER + "，至今没人管", phone)
        _is_already_answered(again, first, at)
        # the same citizen's different matter is still served
        assert (await _submit(adapter, OTHER_MATTER, phone))["status"] == "accepted"

    request = to_request(_request(MATTER, phone), intake.token(sub="bus-answered"))
    await intake.publish("intake.requests", request.request_id, request.SerializeToString())
    [reply] = await replies_for(intake, {request.request_id})
    assert reply.status == "rejected" and reply.reason_code == "already_answered"
    assert first["code"] in reply.reason_text and reply.code not in ("", first["code"])

    # the rejection is a ticket with its history, published like every rejection
    found = await intake.events_of(again["ticket_id"], {"TicketSubmitted", "TicketRejected"})
    rejected = next(d.payload for d in found if d.event_type == "TicketRejected")
    assert rejected.reason_code == "already_answered" and first["code"] in rejected.reason_text


async def test_others_the_anonymous_and_a_closed_ticket(intake):
    phone, at = _phone(), datetime.now(UTC) - timedelta(days=5)
    async with intake.client() as adapter:
        first = await _answered_ticket(intake, adapter, phone, at)
        assert (await _submit(adapter, MATTER, _phone()))["status"] == "accepted"
        assert (await _submit(adapter, MATTER, None))["status"] == "accepted"
        # closing keeps the answer (and its date): still already answered
        await Feedback(intake).closed(first, at + timedelta(days=1))
        _is_already_answered(await _submit(adapter, MATTER, phone), first, at)


async def test_an_answer_older_than_the_window_does_not_count(intake):
    phone, at = _phone(), datetime.now(UTC) - timedelta(days=31)
    async with intake.client() as adapter:
        await _answered_ticket(intake, adapter, phone, at)
        assert (await _submit(adapter, MATTER, phone))["status"] == "accepted"


async def test_a_reopened_ticket_is_not_answered_any_more(intake):
    phone, at = _phone(), datetime.now(UTC) - timedelta(days=3)
    async with intake.client() as adapter:
        first = await _answered_ticket(intake, adapter, phone, at)
        _is_already_answered(await _submit(adapter, MATTER, phone), first, at)
        await Feedback(intake).reopened(first, at + timedelta(days=1))
        assert (await _submit(adapter, MATTER, phone))["status"] == "accepted"


async def test_a_different_category_is_another_matter(intake):
    phone, at = _phone(), datetime.now(UTC) - timedelta(days=1)
    async with intake.client() as adapter:
        first = await _answered_ticket(intake, adapter, phone, at, category_hint="城市管理")
        other = await _submit(adapter, MATTER, phone, category_hint="物业管理")
        assert other["status"] == "accepted"
        same = await _submit(adapter, MATTER, phone, category_hint="城市管理")
        _is_already_answered(same, first, at)


async def test_a_notice_that_it_needs_longer_is_not_an_answer(intake):
    phone, at = _phone(), datetime.now(UTC) - timedelta(days=1)
    async with intake.client() as adapter:
        first = await _submit(adapter, MATTER, phone)
        await Feedback(intake).told_it_needs_longer(first, at)
        assert (await _submit(adapter, MATTER, phone))["status"] == "accepted"
