"""Adapters on the bus: IntakeRequest on intake.requests -> IntakeReply on intake.replies."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from minsheng.v1 import intake_api_pb2

from services.intake.entrypoints.bus import channel_payload
from tests.integration.intake.samples import CHANNELS, sample

pytestmark = pytest.mark.integration


def to_request(payload: dict[str, Any], token: str) -> intake_api_pb2.IntakeRequest:
    """The bus form of an HTTP channel payload (what a bus adapter would publish)."""
    p = dict(payload)
    r = intake_api_pb2.IntakeRequest(request_id=p.pop("request_id"), token=token,
                                     channel=p.pop("channel"))
    text_keys = ("text", "summary", "body", "description")
    r.text = next(p.pop(k) for k in text_keys if k in p)
    for key in ("title", "subject"):
        if key in p:
            r.title = p.pop(key)
    contact = p.pop("contact", None) or p.pop("sender", None)
    if contact:
        r.contact.CopyFrom(intake_api_pb2.BusContact(**contact))
    loc = p.pop("location", None)
    if loc:
        r.location.CopyFrom(intake_api_pb2.BusLocation(lat=loc["lat"], lon=loc["lon"]))
        r.has_location = True
    if "lat" in p:
        r.location.CopyFrom(intake_api_pb2.BusLocation(lat=p.pop("lat"), lon=p.pop("long")))
        r.has_location = True
    for key in ("address", "address_string"):
        if key in p:
            r.address = p.pop(key)
    for key in ("requester_kind", "category_hint"):
        if key in p:
            setattr(r, key, p.pop(key))
    for key, value in p.items():
        r.fields[key] = str(value)
    return r


async def replies_for(intake, request_ids: set[str], count: int | None = None) -> list[Any]:
    def enough(records: list[Any]) -> bool:
        mine = [r for r in records if r.key.decode() in request_ids]
        return len(mine) >= (count or len(request_ids))

    records = await intake.read("intake.replies", enough)
    out = []
    for r in records:
        if r.key.decode() in request_ids:
            reply = intake_api_pb2.IntakeReply()
            reply.ParseFromString(r.value)
            out.append(reply)
    return out


def test_bus_requests_map_onto_the_same_channel_models():
    for channel in CHANNELS:
        payload = sample(channel)
        payload.pop("sender", None)
        if channel == "mayor_mailbox":
            payload["contact"] = {"name": "张建国"}
        mapped = channel_payload(to_request(payload, "t"))
        for key, value in payload.items():
            if key in ("location", "lat", "long"):
                continue
            assert mapped.get(key) == value or str(value) == mapped.get(key), (channel, key)


async def test_every_channel_on_the_bus_gets_its_code_on_the_reply_topic(intake):
    token = intake.token(sub=f"bus-{uuid.uuid4().hex[:6]}")
    sent = {}
    for channel in CHANNELS:
        payload = sample(channel)
        if channel == "mayor_mailbox":
            payload["contact"] = payload.pop("sender")
        request = to_request(payload, token)
        sent[request.request_id] = channel
        await intake.publish("intake.requests", request.request_id, request.SerializeToString())
    replies = await replies_for(intake, set(sent))
    assert {r.request_id for r in replies} == set(sent)
    for reply in replies:
        assert reply.status == "accepted", (sent[reply.request_id], reply.reason_text)
        assert reply.code.startswith("FY-")
    one = replies[0]
    found = await intake.events_of(one.ticket_id, {"TicketSubmitted", "TicketAccepted"})
    assert next(d for d in found if d.event_type == "TicketSubmitted").envelope.ticket_code \
        == one.code


async def test_a_resent_request_gets_the_same_answer_and_no_second_ticket(intake):
    token = intake.token(sub=f"bus-{uuid.uuid4().hex[:6]}")
    request = to_request(sample("web"), token)
    raw = request.SerializeToString()
    await intake.publish("intake.requests", request.request_id, raw)
    await intake.publish("intake.requests", request.request_id, raw)  # redelivered copy
    request.fields["operator_note"] = "x"  # a resend that differs: still the same request id
    request.ClearField("fields")
    request.category_hint = "sanitation"
    await intake.publish("intake.requests", request.request_id, request.SerializeToString())
    replies = await replies_for(intake, {request.request_id}, count=2)
    assert len(replies) == 2  # the byte-identical copy was dropped, the resend answered again
    assert replies[0].code == replies[1].code
    assert [r.replayed for r in replies] == [False, True]


async def test_bad_requests_on_the_bus_are_refused_with_a_reason(intake):
    good = intake.token(sub=f"bus-{uuid.uuid4().hex[:6]}")
    forged = to_request(sample("web"), "ms1.forged.token")
    invalid = to_request(sample("web"), good)
    invalid.ClearField("title")  # web needs a title
    unknown = to_request(sample("web"), good)
    unknown.channel = "fax"
    staff = to_request(sample("web"), intake.token("dispatcher"))
    for r in (forged, invalid, unknown, staff):
        await intake.publish("intake.requests", r.request_id, r.SerializeToString())
    replies = {r.request_id: r for r in await replies_for(
        intake, {forged.request_id, invalid.request_id, unknown.request_id, staff.request_id})}
    assert replies[forged.request_id].reason_code == "unauthenticated"
    assert replies[staff.request_id].reason_code == "forbidden"
    assert "channel_adapter" in replies[staff.request_id].reason_text
    assert replies[invalid.request_id].reason_code == "invalid_request"
    assert "title" in replies[invalid.request_id].reason_text
    assert "unknown channel 'fax'" in replies[unknown.request_id].reason_text
    assert all(r.status == "refused" and not r.code for r in replies.values())


async def test_garbage_on_the_bus_goes_to_the_dead_letter_topic(intake):
    marker = uuid.uuid4().hex
    await intake.publish("intake.requests", marker, b"\xff\xfe not a protobuf " + marker.encode())
    records = await intake.read("tickets.dead-letter",
                                lambda rs: any(r.key and r.key.decode() == marker for r in rs))
    dead = [r for r in records if r.key and r.key.decode() == marker]
    assert dead and b"IntakeRequest" in dict(dead[0].headers)["error"]
