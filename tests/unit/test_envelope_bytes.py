"""The envelope path made per stored event gives the same bytes, ids and headers as the code
of eb42426 (kept below as it was): every event type in proto/, with fields set and left
unset, non-ASCII text, odd datetimes (offsets, microseconds, naive, before 1970)."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from minsheng.v1 import common_pb2, envelope_pb2

from backbone import events
from backbone.record_batches import parse_body, record_body
from backbone.relay import Publication, _wire
from backbone.store import EventContext

# -- eb42426's code ------------------------------------------------------------------------
_OLD_NAMESPACE = events.EVENT_NAMESPACE.bytes
_OLD_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def old_event_id_for(aggregate_id: uuid.UUID | str, version: int, n: int = 0) -> str:
    name = f"{aggregate_id}:{version}:{n}" if n else f"{aggregate_id}:{version}"
    digest = bytearray(hashlib.sha1(_OLD_NAMESPACE + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def old_make_envelope(*, payload: Message, event_id: str, ticket_id: str, ticket_code: str,
                      producer: str, occurred_at: datetime, actor: Any = None,
                      causation_id: str = "", trace_id: str = "") -> Any:
    event_type = type(payload).DESCRIPTOR.name
    owner = events.owner_of(event_type)
    if owner != producer:
        raise events.WrongProducerError(f"{event_type} is owned by {owner}, not {producer}")
    env = envelope_pb2.Envelope(
        event_id=event_id, ticket_id=ticket_id, ticket_code=ticket_code, event_type=event_type,
        producer=producer, causation_id=causation_id,
        trace_id=trace_id or events.trace_id_for(event_id),
        schema_version=events.SCHEMA_VERSION, payload=payload.SerializeToString(),
    )
    since = occurred_at.astimezone(UTC) - _OLD_EPOCH
    env.occurred_at.seconds = since.days * 86400 + since.seconds
    env.occurred_at.nanos = since.microseconds * 1000
    if actor is not None:
        env.actor.CopyFrom(actor)
    return env


def old_publication_envelope(pub: Publication, payload: Message, *, n: int = 0,
                             ticket_id: str = "", ticket_code: str = "",
                             occurred_at: datetime | None = None) -> Any:
    ctx = pub.context
    env = old_make_envelope(
        payload=payload,
        event_id=old_event_id_for(pub.event.originator_id, pub.event.originator_version, n),
        ticket_id=ticket_id or ctx.ticket_id, ticket_code=ticket_code or ctx.ticket_code,
        producer=pub.producer, occurred_at=occurred_at or pub.event.timestamp,
        causation_id=ctx.causation_id, trace_id=ctx.trace_id)
    actor = env.actor
    actor.role, actor.id, actor.unit = ctx.actor_role, ctx.actor_id, ctx.actor_unit
    return env


def old_kafka_headers(env: Any) -> list[tuple[str, bytes]]:
    headers = [
        ("event_type", env.event_type.encode()),
        ("event_id", env.event_id.encode()),
        ("producer", env.producer.encode()),
        ("traceparent", events.traceparent(env.trace_id).encode()),
    ]
    occurred_at = getattr(env, "occurred_at", None)
    if occurred_at is not None:
        micros = occurred_at.seconds * 1_000_000 + occurred_at.nanos // 1000
        headers.insert(3, ("occurred_at_us", str(micros).encode()))
    return headers


# -- varied inputs ---------------------------------------------------------------------------
TEXTS = ["", "a", "市民反映：路灯不亮 🚧", "Ünïcødé ñ", "x" * 300, "line\nbreak\t\x00"]


def _fill(msg: Message, rng: random.Random, depth: int = 0) -> None:
    """Sets a random subset of `msg`'s fields (some left unset) to varied values."""
    for field in msg.DESCRIPTOR.fields:
        if rng.random() < 0.35 or depth > 2:
            continue
        repeated = field.is_repeated if hasattr(field, "is_repeated") else (
            field.label == FieldDescriptor.LABEL_REPEATED)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.message_type.GetOptions().map_entry:
                continue
            if repeated:
                for _ in range(rng.randint(0, 2)):
                    _fill(getattr(msg, field.name).add(), rng, depth + 1)
            else:
                _fill(getattr(msg, field.name), rng, depth + 1)
                getattr(msg, field.name).SetInParent()
            continue
        value = _value(field, rng)
        if value is None:
            continue
        if repeated:
            getattr(msg, field.name).extend([value, _value(field, rng)])
        else:
            setattr(msg, field.name, value)


def _value(field: FieldDescriptor, rng: random.Random) -> Any:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING:
        return rng.choice(TEXTS)
    if t == FieldDescriptor.TYPE_BYTES:
        return rng.randbytes(rng.randint(0, 20))
    if t == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if t == FieldDescriptor.TYPE_ENUM:
        return rng.choice(field.enum_type.values).number
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return rng.choice([0.0, -1.5, 3.25, 1e10])
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return rng.choice([0, 1, 2**32 - 1])
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return rng.choice([0, 1, 2**64 - 1])
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return rng.choice([0, -1, 2**31 - 1, -(2**31)])
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return rng.choice([0, -1, 2**63 - 1])
    return None


def _when(rng: random.Random) -> datetime:
    base = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) + timedelta(
        seconds=rng.choice([0, 1, 86400 * 365 * 57, 86400 * 365 * 90]) + rng.random() * 1e6,
        microseconds=rng.randint(0, 999_999))
    zone = rng.choice([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30)),
                       timezone(timedelta(hours=13, minutes=45, seconds=7)), None])
    if zone is None:
        return base.replace(tzinfo=None)  # naive: local time, as both codes take it
    return base.astimezone(zone)


class _Stored:
    def __init__(self, rng: random.Random) -> None:
        self.originator_id: Any = uuid.UUID(int=rng.getrandbits(128), version=4)
        if rng.random() < 0.2:
            self.originator_id = str(self.originator_id)
        self.originator_version = rng.choice([1, 2, 9, 10, 123456, 2**40])
        self.timestamp = _when(rng)


def _context(rng: random.Random) -> EventContext:
    return EventContext(
        ticket_id=rng.choice(["", str(uuid.UUID(int=rng.getrandbits(128)))]),
        ticket_code=rng.choice(["", "FY-261127-00001-T", "编码-1"]),
        trace_id=rng.choice(["", rng.randbytes(16).hex()]),
        causation_id=rng.choice(["", str(uuid.UUID(int=rng.getrandbits(128)))]),
        actor_role=rng.choice(["system", "", "unit", "citizen"]),
        actor_id=rng.choice(["", "staff-7", "假名-3"]),
        actor_unit=rng.choice(["", "U-01", "城管"]))


def _cases() -> list[tuple[str, type[Message]]]:
    kinds = sorted(events.catalogue().values(), key=lambda k: k.name)
    assert len(kinds) > 20  # every service's events are there
    return [(k.owner, k.message_class) for k in kinds]


@pytest.mark.parametrize("owner,message_class", _cases(),
                         ids=[c.__name__ for _, c in _cases()])
def test_same_envelope_bytes_ids_and_headers(owner: str, message_class: type[Message]) -> None:
    rng = random.Random(f"{owner}:{message_class.__name__}")
    for i in range(12):
        payload = message_class()
        if i:  # the first one empty
            _fill(payload, rng)
        pub = Publication(_Stored(rng), 0, _context(rng), owner)
        n = rng.choice([0, 0, 1, 3])
        kwargs: dict[str, Any] = {"n": n}
        if rng.random() < 0.3:
            kwargs["occurred_at"] = _when(rng)
        if rng.random() < 0.2:
            kwargs["ticket_id"], kwargs["ticket_code"] = "t-" + str(i), "代码-" + str(i)
        old = old_publication_envelope(pub, payload, **kwargs)
        new = pub.envelope(payload, **kwargs)
        assert new.SerializeToString() == old.SerializeToString()
        assert new.event_id == old.event_id == str(uuid.uuid5(
            events.EVENT_NAMESPACE, f"{pub.event.originator_id}:{pub.event.originator_version}"
            + (f":{n}" if n else "")))
        seed = rng.random()
        events._spans.seed(seed)
        old_headers = old_kafka_headers(old)
        events._spans.seed(seed)
        assert events.kafka_headers(new) == old_headers
        events._spans.seed(seed)
        assert _wire(_Out(new), b"k", 7) == ("t", b"k", old.SerializeToString(), old_headers, 7)
        # the Kafka record the outbox stores (version 3): the same key, value and headers
        events._spans.seed(seed)
        key = rng.choice([b"", b"k", "工单".encode() * 30])
        value, body = events.kafka_record_body(key, new)
        assert value == old.SerializeToString()
        assert body == record_body(key, value, old_headers)
        assert parse_body(body) == (key, value, old_headers)

        actor = common_pb2.Actor(role=rng.choice(["", "unit"]), id=rng.choice(["", "名"]))
        direct = dict(payload=payload, event_id=new.event_id, ticket_id=new.ticket_id,
                      ticket_code=new.ticket_code, producer=owner, occurred_at=_when(rng),
                      actor=rng.choice([None, actor]), causation_id=new.causation_id,
                      trace_id=rng.choice(["", new.trace_id]))
        assert (events.make_envelope(**direct).SerializeToString()
                == old_make_envelope(**direct).SerializeToString())


class _Out:
    topic = "t"

    def __init__(self, envelope: Any) -> None:
        self.envelope = envelope


def test_event_ids_match_uuid5_over_many_names() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        aggregate = uuid.UUID(int=rng.getrandbits(128))
        version, n = rng.randint(1, 10**6), rng.choice([0, 1, 2, 17])
        name = f"{aggregate}:{version}:{n}" if n else f"{aggregate}:{version}"
        assert events.event_id_for(aggregate, version, n) == str(
            uuid.uuid5(events.EVENT_NAMESPACE, name)) == old_event_id_for(aggregate, version, n)


def test_the_wrong_producer_is_still_refused() -> None:
    payload = next(k.message_class() for k in events.catalogue().values() if k.owner == "sla")
    with pytest.raises(events.WrongProducerError):
        events.make_envelope(payload=payload, event_id="e", ticket_id="t", ticket_code="",
                             producer="intake", occurred_at=datetime.now(UTC))
    with pytest.raises(events.WrongProducerError):  # the second time from the cache
        events.make_envelope(payload=payload, event_id="e", ticket_id="t", ticket_code="",
                             producer="intake", occurred_at=datetime.now(UTC))
