"""The inbound bus topic `intake.requests`: protobuf IntakeRequest messages from adapters.

The backbone's idempotent consumer runs it (aggregate mode): the message's effects, its answer
and the consumer's position commit together. A message that is not an IntakeRequest, or has
no request id to answer by, goes to the dead-letter topic with the reason, redacted: a message
here may carry personal data, so the dead letter keeps its topic, partition, offset, size,
SHA-256 and the (masked) error, never its bytes (as every consumer's: backbone/dead_letters.py).

Personal fields (contact, address, text, title, fields, attributes) travel sealed for intake
(`sealed`, HPKE: domain/bus_seal.py); a request carrying any of them in clear is refused on
the reply topic with reason_code `personal_data_in_clear`, and nothing of it is read.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from google.protobuf.message import DecodeError
from minsheng.v1 import intake_api_pb2

from backbone import events
from backbone.consumer import Handlers, UnitOfWork
from services.intake.application.bus_requests import BusIntake
from services.intake.domain.bus_seal import PERSONAL_FIELDS, BusKeyring, BusSealError

log = logging.getLogger(__name__)
EVENT_TYPE = "IntakeRequest"
_NS = uuid.UUID("f1c7a0d2-52a4-4f6e-9a3b-7d1e0c5b9a21")
_TEXT_FIELD = {"wechat_mini": "text", "wechat_official": "text", "hotline_12345": "summary",
               "mayor_mailbox": "body", "media_hotline": "summary", "web": "body",
               "open311": "description"}
_TITLE_FIELD = {"mayor_mailbox": "subject", "web": "title"}
_ATTACHMENT_FIELD = {"mayor_mailbox": "attachments", "web": "attachments"}


@dataclass(frozen=True)
class _Meta:
    trace_id: str
    ticket_code: str = ""


@dataclass(frozen=True)
class InboundRequest:
    """What the consumer needs of a decoded message (the shape of events.DecodedEvent)."""

    request: Any
    event_id: str
    envelope: _Meta
    event_type: str = EVENT_TYPE
    ticket_id: str = ""


def decode(raw: bytes) -> InboundRequest:
    request = intake_api_pb2.IntakeRequest()
    try:
        request.ParseFromString(raw or b"")
    except DecodeError as exc:
        raise events.UndecodableEventError(f"not an IntakeRequest: {exc}") from exc
    if not request.request_id:
        raise events.UndecodableEventError("IntakeRequest without request_id: nothing to answer by")
    if len(request.request_id) > 100:
        raise events.UndecodableEventError("request_id longer than 100 characters")
    # The same bytes delivered twice are one message; a resend with changes is a new one.
    event_id = str(uuid.uuid5(_NS, hashlib.sha256(raw).hexdigest()))
    return InboundRequest(request, event_id, _Meta(events.new_trace_id()))


def _contact(c: Any) -> dict[str, Any] | None:
    fields = {k: getattr(c, k) for k in ("name", "phone", "id_number", "address", "organisation",
                                          "email") if getattr(c, k)}
    return fields or None


def channel_payload(r: Any) -> dict[str, Any]:
    """The HTTP API's channel model, from a bus request; the model then validates it."""
    payload: dict[str, Any] = {**dict(r.fields), "channel": r.channel,
                               "request_id": r.request_id, "anonymous": r.anonymous}
    if r.requester_kind:
        payload["requester_kind"] = r.requester_kind
    if r.category_hint:
        payload["category_hint"] = r.category_hint
    if r.HasField("contact") and (contact := _contact(r.contact)):
        payload["contact"] = contact
    if r.channel in _TEXT_FIELD:
        payload[_TEXT_FIELD[r.channel]] = r.text
    if r.channel in _TITLE_FIELD:
        payload[_TITLE_FIELD[r.channel]] = r.title
    refs = [{"sha256": a.sha256, "kind": a.kind} for a in r.attachments]
    if r.channel in ("wechat_mini", "wechat_official"):
        if refs:
            payload["pictures"] = [a for a in refs if a["kind"] == "image"]
            payload["videos"] = [a for a in refs if a["kind"] == "video"]
    elif r.channel in _ATTACHMENT_FIELD and refs:
        payload[_ATTACHMENT_FIELD[r.channel]] = refs
    if r.has_location:
        if r.channel == "open311":
            payload.update(lat=r.location.lat, long=r.location.lon)
        else:
            pin = {"lat": r.location.lat, "lon": r.location.lon}
            if r.location.label:
                pin["label"] = r.location.label
            payload["location"] = pin
    if r.address:
        payload["address_string" if r.channel == "open311" else "address"] = r.address
    if r.attributes:
        payload["attributes"] = dict(r.attributes)
    return payload


def _in_clear(r: Any) -> list[str]:
    present = []
    for name in PERSONAL_FIELDS:
        value = getattr(r, name)
        if (r.HasField(name) if name == "contact" else bool(len(value))):
            present.append(name)
    return present


def unseal(r: Any, keyring: BusKeyring) -> Any:
    """The request with its sealed personal fields opened; BusSealError if any came in clear
    or the sealed part does not open."""
    clear = _in_clear(r)
    if clear:
        raise BusSealError("personal_data_in_clear",
                           f"personal data in clear on intake.requests ({', '.join(clear)}): "
                           "seal these fields for intake (field `sealed`, HPKE to the key of "
                           "GET /v1/bus-key); the request was not read")
    if not r.sealed:
        return r
    part = intake_api_pb2.IntakeRequest()
    try:
        part.ParseFromString(keyring.open(r.sealed, r.sealed_for, r.request_id))
    except DecodeError as exc:
        raise BusSealError("unreadable_sealed_part",
                           "the sealed part opens but is not an IntakeRequest") from exc
    merged = intake_api_pb2.IntakeRequest()
    merged.CopyFrom(r)
    merged.ClearField("sealed")
    for name in PERSONAL_FIELDS:
        if name == "contact":
            if part.HasField("contact"):
                merged.contact.CopyFrom(part.contact)
        elif name in ("fields", "attributes"):
            getattr(merged, name).update(dict(getattr(part, name)))
        else:
            setattr(merged, name, getattr(part, name))
    return merged


def handlers(bus: BusIntake, keyring: BusKeyring) -> Handlers:
    def on_request(message: InboundRequest, uow: UnitOfWork) -> None:
        r = message.request
        refusal: tuple[str, str] | None = None
        try:  # a Timestamp past year 9999 (or before year 1) is no time at all
            occurred_at = (r.occurred_at.ToDatetime(tzinfo=UTC) if r.HasField("occurred_at")
                           else None)
        except (ValueError, OverflowError):
            occurred_at, refusal = None, ("bad_time", "occurred_at is not a valid timestamp")
        try:
            r = unseal(r, keyring)
            payload = channel_payload(r)
        except BusSealError as exc:
            payload, refusal = {}, (exc.code, exc.reason)
        bus.handle(r, message_id=message.event_id, trace_id=message.envelope.trace_id, uow=uow,
                   payload=payload, occurred_at=occurred_at, refusal=refusal)

    return Handlers({EVENT_TYPE: on_request})
