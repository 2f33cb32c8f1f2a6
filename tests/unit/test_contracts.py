"""The event contracts: generated code and catalogue are fresh; every event round-trips."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor

from backbone import events

ROOT = Path(__file__).resolve().parents[2]


def test_generated_protobuf_code_is_fresh():
    result = subprocess.run([sys.executable, "tools/gen_proto.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_event_catalogue_is_fresh():
    result = subprocess.run([sys.executable, "tools/event_catalogue.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _fill(message, depth: int = 0):
    """Set every field to a non-default value, so a lost field would show."""
    for field in message.DESCRIPTOR.fields:
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth > 2:
                continue
            target = getattr(message, field.name).add() if repeated else getattr(
                message, field.name)
            if field.message_type.full_name == "google.protobuf.Timestamp":
                target.seconds, target.nanos = 1_795_000_000, 123_000
            else:
                _fill(target, depth + 1)
            continue
        value = {
            FieldDescriptor.TYPE_STRING: "值-" + field.name,
            FieldDescriptor.TYPE_BOOL: True,
            FieldDescriptor.TYPE_DOUBLE: 0.75,
            FieldDescriptor.TYPE_FLOAT: 0.5,
            FieldDescriptor.TYPE_BYTES: b"\x01\x02",
        }.get(field.type, 7)
        if field.enum_type is not None:
            value = 1
        if repeated:
            getattr(message, field.name).append(value)
        else:
            setattr(message, field.name, value)
    return message


@pytest.mark.parametrize("event_type", sorted(events.catalogue()))
def test_every_event_round_trips_through_the_envelope(event_type):
    kind = events.catalogue()[event_type]
    payload = _fill(kind.message_class())
    env = events.make_envelope(
        payload=payload, event_id=events.event_id_for(uuid.uuid4(), 3),
        ticket_id=str(uuid.uuid4()), ticket_code="FY-261127-00001-T", producer=kind.owner,
        occurred_at=events.utcnow(), actor=events.actor("system", kind.owner),
        causation_id=str(uuid.uuid4()), trace_id="ab" * 16)
    decoded = events.decode(env.SerializeToString())
    assert decoded.envelope == env
    assert decoded.payload == payload
    assert decoded.event_type == event_type


def test_an_event_from_the_wrong_producer_is_refused():
    kind = events.catalogue()["TicketAccepted"]
    env = events.make_envelope(payload=kind.message_class(), event_id="e", ticket_id="t",
                               ticket_code="c", producer="intake", occurred_at=events.utcnow())
    env.producer = "dispatch"
    with pytest.raises(events.WrongProducerError):
        events.decode(env.SerializeToString())
    with pytest.raises(events.WrongProducerError):
        events.make_envelope(payload=kind.message_class(), event_id="e", ticket_id="t",
                             ticket_code="c", producer="dispatch", occurred_at=events.utcnow())


def test_the_checked_envelope_is_decode_s_checks_without_the_payload():
    kind = events.catalogue()["TicketAccepted"]
    env = events.make_envelope(payload=kind.message_class(), event_id="e", ticket_id="t",
                               ticket_code="c", producer="intake", occurred_at=events.utcnow())
    env.payload = b"\xff\xfe not a payload"
    checked, found = events.checked_envelope(env.SerializeToString())
    assert (checked, found) == (env, kind)
    with pytest.raises(events.UndecodableEventError):
        events.decode(env.SerializeToString())  # decode also parses the payload
    env.producer = "dispatch"
    with pytest.raises(events.WrongProducerError):
        events.checked_envelope(env.SerializeToString())


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe garbage", b"\x0a\x03abc"])
def test_garbage_is_refused_with_a_reason(raw):
    with pytest.raises(events.EnvelopeError):
        events.decode(raw)


def test_event_ids_are_deterministic():
    aggregate = uuid.uuid4()
    assert events.event_id_for(aggregate, 1) == events.event_id_for(str(aggregate), 1)
    assert events.event_id_for(aggregate, 1) != events.event_id_for(aggregate, 2)
    assert events.event_id_for(aggregate, 1) != events.event_id_for(aggregate, 1, 1)
