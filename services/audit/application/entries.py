"""How a ledger entry is shown: the exact bytes and hashes to verify it, and a decoded view.

The decoded view is always re-derived from the raw bytes (never from the indexing columns
beside them, which the hashes do not cover)."""

from __future__ import annotations

from binascii import b2a_base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.message import DecodeError
from minsheng.v1 import envelope_pb2

from backbone import events
from services.audit.application.proto_json import message_dict
from services.audit.domain.chain import LedgerEntry


@dataclass(frozen=True)
class DecodedView:
    envelope: envelope_pb2.Envelope | None
    payload: dict[str, Any] | None
    problem: str = ""  # why the payload could not be decoded ("" when it could)

    @property
    def occurred_at(self) -> datetime | None:
        if self.envelope is None or not self.envelope.HasField("occurred_at"):
            return None
        return self.envelope.occurred_at.ToDatetime(tzinfo=UTC)


def decode_view(raw: bytes) -> DecodedView:
    """Decode what can be decoded: an event type this build does not know keeps its envelope."""
    try:
        d = events.decode(raw)
        return DecodedView(d.envelope, _as_dict(d.payload))
    except events.EnvelopeError as exc:
        env = envelope_pb2.Envelope()
        try:
            env.ParseFromString(raw)
        except DecodeError:
            return DecodedView(None, None, f"not an envelope: {exc}")
        return DecodedView(env, None, str(exc))


def _as_dict(message: Any) -> dict[str, Any]:
    return message_dict(message)  # MessageToDict(message, preserving_proto_field_name=True)


def envelope_fields(env: envelope_pb2.Envelope) -> dict[str, Any]:
    """The envelope as JSON, without the payload bytes (the decoded payload stands beside it)."""
    return message_dict(env, omit="payload")


def _occurred_at(rfc3339: str | None) -> str | None:
    """``DecodedView.occurred_at.isoformat()`` (a UTC datetime, microseconds, +00:00) from the
    envelope's JSON text of the same Timestamp (Z, 0/3/6/9 fractional digits): the second
    conversion of one time is string slicing, not a datetime."""
    if rfc3339 is None:
        return None
    whole, _, fraction = rfc3339[:-1].partition(".")
    micros = (fraction + "00000")[:6] if fraction else ""
    return f"{whole}.{micros}+00:00" if micros.strip("0") else f"{whole}+00:00"


def entry_view(row: dict[str, Any], *, proof: list[bytes] | None = None,
               proof_tree_size: int | None = None) -> dict[str, Any]:
    entry = LedgerEntry.from_row(row)
    view = decode_view(entry.event)
    env = view.envelope
    recorded = row.get("recorded_at")
    envelope = envelope_fields(env) if env is not None else None
    out: dict[str, Any] = {
        "ledger_seq": entry.ledger_seq,
        "ticket_seq": entry.ticket_seq,
        "topic": entry.topic,
        "partition": entry.partition,
        "offset": entry.offset,
        "ticket_id": entry.ticket_id,
        "raw": b2a_base64(entry.event, newline=False).decode(),
        "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
        "leaf_hash": entry.leaf_hash().hex(),
        "recorded_at": recorded.isoformat() if recorded else None,
        "envelope": envelope,
        "event_type": env.event_type if env is not None else None,
        "occurred_at": _occurred_at(envelope.get("occurred_at") if envelope else None),
        "payload": view.payload,
    }
    if view.problem:
        out["decode_problem"] = view.problem
    if proof_tree_size is not None:
        out["inclusion_proof"] = None if proof is None else {
            "tree_size": proof_tree_size, "path": [h.hex() for h in proof]}
    return out


def page_json(rows: list[dict[str, Any]], *, next_after: int) -> bytes:
    """A page of ``/v1/ledger/entries`` as JSON bytes: each row's :func:`entry_view` and its
    event id, then the next page's cursor. Written by orjson in one C call (the route's
    return through FastAPI's pydantic serializer cost ~6 µs an entry)."""
    entries = []
    for row in rows:
        view = entry_view(row)
        view["event_id"] = row["event_id"]
        entries.append(view)
    return orjson.dumps({"entries": entries, "next_after": next_after})
