"""Scan every event intake emits (lifecycle and replies) for personal data.

Runs last in this package, so it also sees the merges, erasures and bus answers the other
tests caused; it first sends every channel, by HTTP and by bus, with names, phones, ID numbers
and addresses in the text and the contact.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from google.protobuf.message import Message
from minsheng.v1 import intake_api_pb2

from backbone import events
from backbone.privacy import find_personal_data
from tests.integration.intake.samples import CHANNELS, SECRETS, sample
from tests.integration.intake.test_bus import to_request

pytestmark = pytest.mark.integration


KINDS = {"TicketSubmitted", "TicketAccepted", "TicketRejected", "TicketMergedIntoCase",
         "TicketUnmergedFromCase", "CitizenIdentityErased"}


async def _every_other_kind_of_event(intake, http) -> None:
    """A rejection, a merge undone, an erasure: each with personal data in reach."""
    fire = {**sample("web"), "body": "王秀英女士家着火了，电话13812345678"}
    assert (await http.post("/v1/requests", json=fire)).json()["status"] == "rejected"
    first = (await http.post("/v1/requests", json=sample("wechat_mini"))).json()
    second = (await http.post("/v1/requests", json=sample("wechat_mini"))).json()
    async with intake.client("supervisor") as staff:
        await staff.post(f"/v1/tickets/{second['code']}/merge", json={"into": first["code"]})
        await staff.post(f"/v1/tickets/{second['code']}/merge/undo",
                         json={"reason": "张建国先生说不是一回事，电话13987654321"})
        await staff.post("/v1/citizens/erasure", json={"ticket_code": first["code"]})


def strings(message: Message) -> list[str]:
    out: list[str] = []
    for field, value in message.ListFields():
        if field.name == "citizen_pseudonym":
            # A keyed hash (HMAC-SHA256 hex); its digit runs can look like phone numbers.
            assert len(value) == 64 and all(c in "0123456789abcdef" for c in value)
            continue
        values = value if field.is_repeated else [value]
        for v in values:
            if isinstance(v, Message):
                out.extend(strings(v))
            elif isinstance(v, str):
                out.append(v)
    return out


# Ticket and case ids are random UUIDs; a run of their hex digits can look like a phone
# number ("...-8211-01618425128a"). They are ours, not a citizen's: scan around them.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# digests (an attachment's sha256, a hash): random hex holds digit runs that look like a
# phone number often enough to fail a run now and then ('...bbc0525842702f4...' once did)
_DIGEST = re.compile(r"\b[0-9a-f]{32,}\b")


def leaks(texts: list[str]) -> list[str]:
    found = [f"{s!r} in {t!r}" for t in texts for s in SECRETS if s in t]
    found += [f"{f.kind} {f.text!r} in {t!r}" for t in texts
              for f in find_personal_data(_DIGEST.sub(" ", _UUID.sub(" ", t)))
              if f.text != f.masked]
    return found


async def test_nothing_intake_publishes_carries_personal_data(intake):
    assert leaks(["王秀英女士电话13812345678"]) and not leaks(["王**女士电话138****5678"])
    assert not leaks(["edbb49a0-be91-5b92-8211-01618425128a"])  # an id seen flagged once
    assert not leaks(["379149c78349e03bf0524fe25257d4cf7bd558fb07bde2bbc0525842702f45d1"])
    token = intake.token(sub="privacy-scan")
    codes: set[str] = set()
    async with intake.client(sub="privacy-scan-http") as http:
        for channel in CHANNELS:
            response = await http.post("/v1/requests", json=sample(channel))
            assert response.status_code == 201, response.text
            codes.add(response.json()["code"])
        await _every_other_kind_of_event(intake, http)
    request_ids = set()
    for channel in CHANNELS:
        payload = sample(channel)
        if channel == "mayor_mailbox":
            payload["contact"] = payload.pop("sender")
        request = to_request(payload, token)
        request_ids.add(request.request_id)
        await intake.publish("intake.requests", request.request_id, request.SerializeToString())

    replies = await intake.read("intake.replies", lambda rs: request_ids <= {
        r.key.decode() for r in rs})
    answered = []
    for record in replies:
        reply = intake_api_pb2.IntakeReply()
        reply.ParseFromString(record.value)
        answered.append(reply)
        assert not leaks(strings(reply)), leaks(strings(reply))
    codes |= {r.code for r in answered if r.request_id in request_ids}
    assert len(codes) == 2 * len(CHANNELS)

    def all_there(decoded: list[events.DecodedEvent]) -> bool:
        seen = {d.envelope.ticket_code for d in decoded if d.event_type == "TicketAccepted"}
        return codes <= seen and {d.event_type for d in decoded} >= KINDS

    decoded = await intake.lifecycle(all_there)
    kinds = {d.event_type for d in decoded}
    assert kinds >= KINDS, kinds
    problems: list[Any] = []
    for d in decoded:
        texts = [*strings(d.payload), d.envelope.actor.id, d.envelope.ticket_code]
        problems += [(d.event_type, leak) for leak in leaks(texts)]
    assert not problems, problems[:10]
    submitted = [d.payload for d in decoded if d.event_type == "TicketSubmitted"
                 and d.envelope.ticket_code in codes]
    assert any(p.contact_masked == "138****5678" for p in submitted)  # masked, not dropped
    assert any("人民路***号" in p.text_masked for p in submitted)
