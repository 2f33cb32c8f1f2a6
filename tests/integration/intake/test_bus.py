"""Adapters on the bus: IntakeRequest on intake.requests -> IntakeReply on intake.replies."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import Any

import pytest
from minsheng.v1 import intake_api_pb2

from backbone import auth
from services.intake.domain.bus_seal import PERSONAL_FIELDS, keyring_from, seal_for_intake
from services.intake.entrypoints.bus import channel_payload
from tests.integration.intake.samples import CHANNELS, SECRETS, sample

pytestmark = pytest.mark.integration


def intake_bus_key() -> tuple[str, bytes]:
    """The id and public half of intake's (development) bus key, as GET /v1/bus-key gives it."""
    current = keyring_from("", auth.dev_keys_dir()).current
    return current.kid, current.public_raw


def seal(r: intake_api_pb2.IntakeRequest) -> intake_api_pb2.IntakeRequest:
    """What a bus adapter does before publishing: the personal fields sealed for intake."""
    part = intake_api_pb2.IntakeRequest()
    for name in PERSONAL_FIELDS:
        if name == "contact":
            if r.HasField("contact"):
                part.contact.CopyFrom(r.contact)
        elif name in ("fields", "attributes"):
            getattr(part, name).update(dict(getattr(r, name)))
        else:
            setattr(part, name, getattr(r, name))
        r.ClearField(name)
    kid, public = intake_bus_key()
    r.sealed = seal_for_intake(public, part.SerializeToString(), r.request_id)
    r.sealed_for = kid
    return r


def to_request(payload: dict[str, Any], token: str, *, sealed: bool = True
               ) -> intake_api_pb2.IntakeRequest:
    """The bus form of an HTTP channel payload (what a bus adapter would publish): its
    personal fields sealed for intake, unless ``sealed`` is False."""
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
    return seal(r) if sealed else r


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
        mapped = channel_payload(to_request(payload, "t", sealed=False))
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
    untitled = sample("web")
    untitled.pop("title")
    invalid = to_request(untitled, good)  # web needs a title
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


async def test_garbage_on_the_bus_goes_to_the_dead_letter_topic_redacted(intake):
    marker = uuid.uuid4().hex
    raw = b"\xff\xfe not a protobuf 13812345678 " + marker.encode()
    digest = hashlib.sha256(raw).hexdigest().encode()
    await intake.publish("intake.requests", marker, raw)
    records = await intake.read("tickets.dead-letter", lambda rs: any(
        dict(r.headers).get("sha256") == digest for r in rs))
    dead = [r for r in records if dict(r.headers).get("sha256") == digest]
    assert dead and b"IntakeRequest" in dict(dead[0].headers)["error"]
    note = json.loads(dead[0].value)
    assert note["sha256"] == digest.decode() and note["size"] == len(raw)
    assert {"topic", "partition", "offset", "error"} <= set(note)
    assert marker.encode() not in dead[0].value and b"13812345678" not in dead[0].value
    assert dead[0].key is None


async def test_personal_data_in_clear_on_the_bus_is_refused_and_not_read(intake):
    token = intake.token(sub=f"bus-{uuid.uuid4().hex[:6]}")
    clear = to_request(sample("wechat_mini"), token, sealed=False)
    elsewhere = to_request(sample("web"), token)
    moved = to_request(sample("web"), token)
    moved.sealed = elsewhere.sealed  # another request's sealed part: bound to its request id
    tampered = to_request(sample("web"), token)
    tampered.sealed = tampered.sealed[:-1] + bytes([tampered.sealed[-1] ^ 1])
    unknown_key = to_request(sample("web"), token)
    unknown_key.sealed_for = "intake-bus-2020"
    sent = (clear, moved, tampered, unknown_key)
    for r in sent:
        await intake.publish("intake.requests", r.request_id, r.SerializeToString())
    replies = {r.request_id: r for r in await replies_for(intake, {r.request_id for r in sent})}
    refused = replies[clear.request_id]
    assert refused.status == "refused" and refused.reason_code == "personal_data_in_clear"
    assert "contact" in refused.reason_text and "text" in refused.reason_text
    assert replies[moved.request_id].reason_code == "unreadable_sealed_part"
    assert replies[tampered.request_id].reason_code == "unreadable_sealed_part"
    assert replies[unknown_key.request_id].reason_code == "unknown_bus_key"
    assert all(not r.code for r in replies.values())
    for r in replies.values():
        assert not [s for s in SECRETS if s in r.reason_text]


async def test_the_bus_key_is_published_for_adapters(intake):
    async with intake.client(None) as http:
        key = (await http.get("/v1/bus-key")).json()
    kid, public = intake_bus_key()
    assert key["kid"] == kid and key["x25519_public_key"] == base64.b64encode(public).decode()
    assert "HPKE" in key["suite"]


async def test_a_nul_character_on_the_bus_is_refused_with_a_reason(intake):
    # PostgreSQL's text cannot hold it: the adapter is answered invalid_request, instead of the
    # consumer's transaction failing on it
    token = intake.token(sub=f"bus-{uuid.uuid4().hex[:6]}")
    payload = sample("web")
    payload["body"] = "路灯\x00坏了"
    request = to_request(payload, token)
    await intake.publish("intake.requests", request.request_id, request.SerializeToString())
    [reply] = await replies_for(intake, {request.request_id})
    assert reply.status == "refused" and reply.reason_code == "invalid_request" and not reply.code
    assert "U+0000" in reply.reason_text
