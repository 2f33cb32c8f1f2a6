"""How a ledger entry is shown: the exact bytes and hashes to verify it, and a decoded view.

The decoded view is always re-derived from the raw bytes (never from the indexing columns
beside them, which the hashes do not cover)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from minsheng.v1 import envelope_pb2

from backbone import events
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
    return MessageToDict(message, preserving_proto_field_name=True)


def envelope_fields(env: envelope_pb2.Envelope) -> dict[str, Any]:
    """The envelope as JSON, without the payload bytes (the decoded payload stands beside it)."""
    out = _as_dict(env)
    out.pop("payload", None)
    return out


def entry_view(row: dict[str, Any], *, proof: list[bytes] | None = None,
               proof_tree_size: int | None = None) -> dict[str, Any]:
    entry = LedgerEntry.from_row(row)
    view = decode_view(entry.event)
    occurred = view.occurred_at  # a property that converts: once
    out: dict[str, Any] = {
        "ledger_seq": entry.ledger_seq,
        "ticket_seq": entry.ticket_seq,
        "topic": entry.topic,
        "partition": entry.partition,
        "offset": entry.offset,
        "ticket_id": entry.ticket_id,
        "raw": base64.b64encode(entry.event).decode(),
        "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(),
        "leaf_hash": entry.leaf_hash().hex(),
        "recorded_at": row["recorded_at"].isoformat() if row.get("recorded_at") else None,
        "envelope": envelope_fields(view.envelope) if view.envelope is not None else None,
        "event_type": view.envelope.event_type if view.envelope is not None else None,
        "occurred_at": occurred.isoformat() if occurred else None,
        "payload": view.payload,
    }
    if view.problem:
        out["decode_problem"] = view.problem
    if proof_tree_size is not None:
        out["inclusion_proof"] = None if proof is None else {
            "tree_size": proof_tree_size, "path": [h.hex() for h in proof]}
    return out
