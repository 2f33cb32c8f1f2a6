"""proto_json.message_dict and the ledger page's JSON equal what json_format and the route gave
before (MessageToDict, then FastAPI's pydantic serializer), on every event type (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.json_format import MessageToDict
from minsheng.v1 import envelope_pb2
from pydantic import TypeAdapter

from backbone import events
from services.audit.application.entries import decode_view, entry_view, page_json
from services.audit.application.proto_json import message_dict
from services.audit.domain.chain import LedgerEntry, link_entry

F = FieldDescriptor


def _value(fd: FieldDescriptor, k: int) -> Any:
    """A value of the field's type, varied by ``k`` (0: a default, which proto3 omits)."""
    if fd.cpp_type == F.CPPTYPE_STRING:
        if fd.type == F.TYPE_BYTES:
            return bytes(range(k * 7 % 256, k * 7 % 256 + k)) if k else b""
        return ["", "颍州区 路灯不亮", 'quote " back\\slash \n', "x" * 40][k % 4]
    if fd.cpp_type == F.CPPTYPE_BOOL:
        return bool(k % 2)
    if fd.cpp_type in (F.CPPTYPE_INT64,):
        return [0, -(2**62), 2**53 + 1, 7][k % 4]
    if fd.cpp_type == F.CPPTYPE_UINT64:
        return [0, 2**64 - 1, 3, 9][k % 4]
    if fd.cpp_type == F.CPPTYPE_INT32:
        return [0, -5, 2**31 - 1, 12][k % 4]
    if fd.cpp_type == F.CPPTYPE_UINT32:
        return [0, 2**32 - 1, 1, 30][k % 4]
    if fd.cpp_type == F.CPPTYPE_DOUBLE:
        return [0.0, -0.0, 115.81234567891, 1e-300, 3.0][k % 5]
    if fd.cpp_type == F.CPPTYPE_FLOAT:
        return [0.0, 1.5][k % 2]
    if fd.cpp_type == F.CPPTYPE_ENUM:
        return fd.enum_type.values[k % len(fd.enum_type.values)].number
    raise AssertionError(fd.full_name)


NANOS = (0, 123_000_000, 123_456_000, 123_456_789, 999, 1)


def fill(message: Any, k: int, depth: int = 0) -> Any:
    """Set every field of ``message`` (nested ones too) from ``k``."""
    for i, fd in enumerate(message.DESCRIPTOR.fields):
        kk = k + i
        if fd.cpp_type == F.CPPTYPE_MESSAGE:
            if fd.message_type.full_name == "google.protobuf.Timestamp":
                target = getattr(message, fd.name)
                ts = target.add() if fd.is_repeated else target
                ts.seconds, ts.nanos = 1_700_000_000 + kk * 86_401, NANOS[kk % len(NANOS)]
            elif depth < 3 and (kk % 3 or depth == 0):
                target = getattr(message, fd.name)
                for n in range(2 if fd.is_repeated else 1):
                    fill(target.add() if fd.is_repeated else target, kk + n, depth + 1)
        elif fd.is_repeated:
            getattr(message, fd.name).extend(_value(fd, kk + n) for n in range(kk % 3))
        else:
            setattr(message, fd.name, _value(fd, kk))
    return message


def reference(message: Any) -> dict[str, Any]:
    return MessageToDict(message, preserving_proto_field_name=True)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON, key order included (json.dumps keeps it)."""
    return json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)


@pytest.mark.parametrize("event_type", sorted(events.catalogue()))
def test_every_event_type_converts_as_json_format_does(event_type):
    kind = events.catalogue()[event_type]
    for k in range(8):
        message = fill(kind.message_class(), k)
        assert same(message_dict(message), reference(message)), (event_type, k)
    empty = kind.message_class()
    assert message_dict(empty) == reference(empty) == {}


def test_the_envelope_without_its_payload_and_odd_numbers():
    for k in range(6):
        env = fill(envelope_pb2.Envelope(), k)
        want = reference(env)
        want.pop("payload", None)
        assert same(message_dict(env, omit="payload"), want)
    nan = events.catalogue()
    doubles = [(name, fd) for name, kind in nan.items()
               for fd in kind.message_class.DESCRIPTOR.fields
               if fd.cpp_type == F.CPPTYPE_DOUBLE and not fd.is_repeated]
    for name, fd in doubles:
        for odd in (math.nan, math.inf, -math.inf, -0.0):
            message = nan[name].message_class()
            setattr(message, fd.name, odd)
            assert same(message_dict(message), reference(message)), (name, fd.name, odd)


def old_entry_view(row: dict[str, Any]) -> dict[str, Any]:
    """The ledger page's entry as it was built before (42142ed): MessageToDict twice."""
    entry = LedgerEntry.from_row(row)
    view = decode_view(entry.event)  # its payload is message_dict's: decoded again below
    env = view.envelope
    occurred = view.occurred_at
    payload = reference(events.decode(entry.event).payload) if view.payload is not None else None
    envelope = reference(env) if env is not None else None
    if envelope is not None:
        envelope.pop("payload", None)
    out = {
        "ledger_seq": entry.ledger_seq, "ticket_seq": entry.ticket_seq, "topic": entry.topic,
        "partition": entry.partition, "offset": entry.offset, "ticket_id": entry.ticket_id,
        "raw": base64.b64encode(entry.event).decode(), "prev_hash": entry.prev_hash.hex(),
        "entry_hash": entry.entry_hash.hex(), "leaf_hash": entry.leaf_hash().hex(),
        "recorded_at": row["recorded_at"].isoformat() if row.get("recorded_at") else None,
        "envelope": envelope, "event_type": env.event_type if env is not None else None,
        "occurred_at": occurred.isoformat() if occurred else None,
        "payload": payload,
    }
    if view.problem:
        out["decode_problem"] = view.problem
    return out


def ledger_rows() -> list[dict[str, Any]]:
    """An entry of every event type (filled, with every kind of occurred_at), an empty one of
    each, one of an unknown type and bytes that are no envelope."""
    raws = []
    for k, (_name, kind) in enumerate(sorted(events.catalogue().items())):
        for payload in (fill(kind.message_class(), k), kind.message_class()):
            env = events.make_envelope(payload=payload, event_id=str(uuid.uuid4()),
                                       ticket_id=str(uuid.uuid4()), ticket_code=f"FY-{k}",
                                       producer=kind.owner,
                                       occurred_at=datetime(2023, 11, 23, 8, tzinfo=UTC))
            env.occurred_at.nanos = NANOS[k % len(NANOS)]
            raws.append(env.SerializeToString())
    raws.append(envelope_pb2.Envelope(event_id="e", ticket_id="t", event_type="Future",
                                      producer="sla").SerializeToString())
    raws.append(b"\xff\xff not an envelope")
    rows = []
    for seq, raw in enumerate(raws):
        e = link_entry(None, ledger_seq=seq, topic="tickets.events", partition=seq % 3,
                       offset=seq, ticket_id="t", event=raw)
        rows.append({**e.to_row(), "event_id": f"id-{seq}",
                     "recorded_at": datetime(2026, 12, 6, 4, 40, seq % 60, seq * 997, tzinfo=UTC)
                     if seq % 5 else None})
    return rows


def test_the_ledger_page_is_the_json_it_was_byte_for_byte():
    rows = ledger_rows()
    assert len({decode_view(r["event"]).envelope.event_type for r in rows[:-1]}) \
        == len(events.catalogue()) + 1
    old = [{**old_entry_view(r), "event_id": r["event_id"]} for r in rows]
    before = TypeAdapter(dict[str, Any]).dump_json({"entries": old, "next_after": len(rows)})
    assert page_json(rows, next_after=len(rows)) == before
    assert hashlib.sha256(before).digest()  # not empty
    for r in rows:
        assert same(entry_view(r), old_entry_view(r))


def test_the_history_route_writes_what_fastapis_serializer_wrote():
    from services.audit.adapters.checkpoint_store import StoredCheckpoint
    from services.audit.application.histories import TicketHistory
    from services.audit.entrypoints.http_api import _checkpoint, history_json

    rows = ledger_rows()
    cp = StoredCheckpoint(tree_size=len(rows), root_hash=b"\x07" * 32,
                          signed_at=datetime(2026, 12, 6, 5, 1, 2, 345678, tzinfo=UTC),
                          note="minsheng.example/audit\n42\nroot\n\n— key sig\n")
    history = TicketHistory("t", rows, checkpoint=cp,
                            proofs={r["ledger_seq"]: [bytes([i]) * 32 for i in range(3)]
                                    for r in rows[::2]})
    verification = {"checked": True, "ok": False, "findings": [
        {"kind": "not_in_tree", "ledger_seq": 3, "ticket_id": "t", "detail": "路径 \"x\"",
         "last_seq": None}]}
    before = TypeAdapter(dict[str, Any]).dump_json({
        "ticket_id": history.ticket_id, "entries": history.entries(),
        "checkpoint": _checkpoint(cp), "verification": verification})
    assert history_json(history, verification) == before
    plain = TicketHistory("t", rows)
    assert history_json(plain, {"checked": False, "reason": "r"}) == TypeAdapter(
        dict[str, Any]).dump_json({"ticket_id": "t", "entries": plain.entries(),
                                   "checkpoint": None,
                                   "verification": {"checked": False, "reason": "r"}})
