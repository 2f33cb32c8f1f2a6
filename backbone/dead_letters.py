"""What a dead letter says about a poison message: where it was, what it was, why it failed,
and a hash of its bytes; never the bytes themselves.

A message any consumer gives up on may carry a citizen's name, phone or address (a request on
`intake.requests`, a lifecycle event's payload, a notice), and the dead-letter topic is read by
operators and kept for its retention: copying the raw bytes there would put personal data in
the clear where nobody is meant to look for it. So the dead letter is a JSON note: the source
topic, partition and offset (where the original still is, for its own retention, behind its
topic's ACLs), the envelope's identifiers when the bytes parse as one (type, event, ticket,
producer, trace: each only if it looks like an identifier), size, SHA-256 (to match the
original), the consumer and the error with personal data masked. The key is dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from google.protobuf.message import DecodeError
from minsheng.v1 import envelope_pb2

from backbone.privacy import mask_personal_data

MAX_ERROR_CHARS = 1000
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,99}$")
_HEX_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}")
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ENVELOPE_IDS = ("event_type", "event_id", "ticket_id", "ticket_code", "producer", "trace_id")


def _identifier(value: str) -> str | None:
    """The value if it reads as an identifier: a uuid or hex trace id, or a short token with no
    spaces, no Chinese and no run of 7 digits (which could be a phone or ID number)."""
    if _HEX_ID.fullmatch(value):
        return value
    if _IDENTIFIER.match(value) and not re.search(r"\d{7,}", value):
        return value
    return None


def envelope_ids(raw: bytes) -> dict[str, str]:
    """The envelope's identifiers, if `raw` parses as an envelope; else {}."""
    env = envelope_pb2.Envelope()
    try:
        env.ParseFromString(raw)
    except (DecodeError, ValueError):
        return {}
    out = {}
    for name in _ENVELOPE_IDS:
        value = getattr(env, name, "")
        if isinstance(value, str) and value and _identifier(value):
            out[name] = value
    return out


def redacted_reason(reason: str) -> str:
    """The error with personal data masked and every run of Chinese text cut out: our errors
    are English, so Chinese in one was quoted from the message (a name, an address) and
    the masker cannot tell a bare name from a word."""
    return _CHINESE.sub("(中文)", mask_personal_data(reason))[:MAX_ERROR_CHARS]


def note(*, topic: str, partition: int, offset: int, value: bytes | None, consumer: str,
         reason: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    """(the dead letter's value, its headers) for one poison record."""
    raw = value or b""
    error = redacted_reason(reason)
    body: dict[str, Any] = {
        "topic": topic, "partition": partition, "offset": offset, "consumer": consumer,
        "size": len(raw), "sha256": hashlib.sha256(raw).hexdigest(), "error": error,
        **envelope_ids(raw), "redacted": True}
    headers = [("error", error.encode()), ("consumer", consumer.encode()),
               ("source", f"{topic}/{partition}/{offset}".encode()),
               ("sha256", body["sha256"].encode())]
    return json.dumps(body, ensure_ascii=False).encode(), headers
