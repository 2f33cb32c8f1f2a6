"""The envelope path made per stored event gives the same bytes, ids and headers as the code
of eb42426 (kept below as it was): every event type in proto/, with fields set and left
unset, non-ASCII text, odd datetimes (offsets, microseconds, naive, before 1970)."""

from __future__ import annotations

import hashlib
import marshal
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


# -- a batch's record bodies at once (the relay's messages made at commit) -------------------
class _Words:
    """A stand-in for events._spans that gives chosen 64-bit words (some 0) in order, as a
    Mersenne Twister gives its 32-bit words: getrandbits(64 n) is n draws of 64 bits, the first
    in the lowest bits."""

    def __init__(self, words: list[int]) -> None:
        self.words = list(words)

    def getrandbits(self, k: int) -> int:
        assert k % 64 == 0
        out = 0
        for i in range(k // 64):
            out |= self.words.pop(0) << (64 * i)
        return out


class _Reply:
    """An envelope-like message that is not an Envelope (intake's replies), with or without a
    time."""

    def __init__(self, rng: random.Random, timed: bool) -> None:
        self.event_type, self.producer = "IntakeReply", "intake"
        self.event_id = str(uuid.UUID(int=rng.getrandbits(128)))
        self.trace_id = rng.randbytes(16).hex()
        self.value = rng.randbytes(rng.randint(0, 40))
        if timed:
            self.occurred_at = type("T", (), {"seconds": rng.randint(0, 2**33),
                                               "nanos": rng.randint(0, 999_999_999)})()

    def SerializeToString(self) -> bytes:  # noqa: N802
        return self.value


def _mixed(rng: random.Random, n: int) -> tuple[list[bytes], list[Any]]:
    cases = _cases()
    keys, envs = [], []
    for i in range(n):
        r = rng.random()
        if r < 0.15:
            envs.append(_Reply(rng, rng.random() < 0.5))
        else:
            owner, message_class = cases[rng.randrange(len(cases))]
            payload = message_class()
            _fill(payload, rng)
            if r > 0.95:  # a message past 8 KiB: lengths of two bytes and more
                payload = message_class()
                text = next((f for f in message_class.DESCRIPTOR.fields
                             if f.type == FieldDescriptor.TYPE_STRING and not (
                                 f.is_repeated if hasattr(f, "is_repeated")
                                 else f.label == FieldDescriptor.LABEL_REPEATED)), None)
                if text is not None:
                    setattr(payload, text.name, "长" * 5000)
            envs.append(Publication(_Stored(rng), 0, _context(rng), owner).envelope(
                payload, n=i % 3))
        keys.append(rng.choice([b"", b"k", str(uuid.uuid4()).encode(), "工单".encode() * 30]))
    return keys, envs


@pytest.mark.parametrize("n", [0, 1, 2, 7, 200])
def test_record_bodies_at_once_as_one_by_one(n: int) -> None:
    """kafka_record_bodies gives kafka_record_body's bodies, byte for byte, the traceparents'
    span ids included (the same generator state: the same ids, in the same order)."""
    rng = random.Random(n)
    keys, envs = _mixed(rng, n)
    seed = rng.random()
    events._spans.seed(seed)
    one_by_one = [events.kafka_record_body(k, e)[1] for k, e in zip(keys, envs, strict=True)]
    after = events._spans.getrandbits(32)
    events._spans.seed(seed)
    assert events.kafka_record_bodies(keys, envs) == one_by_one
    assert events._spans.getrandbits(32) == after  # as many bits drawn
    for body, env in zip(one_by_one, envs, strict=True):  # (and they are messages as sent)
        assert parse_body(body)[1] == env.SerializeToString()


def test_record_bodies_at_once_with_a_zero_span(monkeypatch) -> None:
    rng = random.Random(3)
    keys, envs = _mixed(rng, 6)
    words = [0, 5, 0, 2**64 - 1, 1, 0]
    monkeypatch.setattr(events, "_spans", _Words(words))
    one_by_one = [events.kafka_record_body(k, e)[1] for k, e in zip(keys, envs, strict=True)]
    monkeypatch.setattr(events, "_spans", _Words(words))
    assert events.kafka_record_bodies(keys, envs) == one_by_one
    assert b"-0000000000000001-01" in one_by_one[0]
    with pytest.raises(ValueError):
        events.kafka_record_bodies(keys, envs[1:])


def test_encode_at_commit_as_message_by_message() -> None:
    """The relay's outbox bytes made at commit for a batch (bodies at once) are those made
    message by message (kafka_record_body, murmur2 of each key, marshal): the same bytes, with
    events that publish nothing, several messages (one envelope on two topics), a reply that
    is not an Envelope and an event whose translating fails."""
    from types import SimpleNamespace

    from backbone.key_hashes import key_hash
    from backbone.relay import _VERSION_3, OutboxRelay, Outgoing, _prepared

    rng = random.Random(11)
    stored = [_Stored(rng) for _ in range(60)]
    contexts = [_context(rng) for _ in stored]
    kinds = [c for o, c in _cases() if o == "intake"]

    def translate(pub: Publication) -> list[Any]:
        i = stored.index(pub.event)
        if i % 7 == 3:
            return []
        if i % 11 == 5:
            raise RuntimeError("no")
        if i % 5 == 1:
            reply = _Reply(random.Random(i), False)
            return [Outgoing("intake.replies", reply.event_id, reply)]
        payload = kinds[i % len(kinds)]()
        _fill(payload, random.Random(i))
        env = pub.envelope(payload)
        out = [Outgoing("intake.lifecycle", env.ticket_id, env)]
        if i % 3 == 0:
            out.append(Outgoing(f"assignments.u{i}", env.ticket_id, env))
        return out

    relay = OutboxRelay(settings=SimpleNamespace(service="intake", schema="s",
                                                 lifecycle_topic="intake.lifecycle"),
                        app=None, pool=None, translate=translate)
    batch = list(zip(stored, contexts, strict=True))
    for size in (1, 4, 60):
        events._spans.seed(size)
        expected: list[bytes | None] = []
        for event, context in batch[:size]:
            try:
                outgoing = translate(Publication(event, 0, context, "intake"))
            except RuntimeError:
                expected.append(None)
                continue
            # as the relay made them message by message (marshal writes an object referenced
            # more than once with a flag: the list is named, as it was there)
            records = [_prepared(o, o.key.encode(), key_hash(o.key.encode())) for o in outgoing]
            expected.append(_VERSION_3 + marshal.dumps(records, 4))
        events._spans.seed(size)
        assert relay._encode_at_commit(batch[:size]) == expected


def test_encode_at_commit_keeps_each_event_s_own_messages_when_one_fails() -> None:
    """An event whose messages fail to encode (here an Outgoing whose topic cannot be read)
    gets None, and the events after it their own messages (the spans of their traceparents
    aside: drawn for every message at once, the failed one's too)."""
    from types import SimpleNamespace

    from backbone.relay import OutboxRelay, Outgoing, decode_records

    class _NoTopic:
        def __init__(self, o: Any) -> None:
            self.key, self.envelope = o.key, o.envelope

        @property
        def topic(self) -> str:
            raise RuntimeError("no topic")

    rng = random.Random(12)
    stored = [_Stored(rng) for _ in range(9)]
    kind = next(c for o, c in _cases() if o == "intake")

    def translate(pub: Publication) -> list[Any]:
        i = stored.index(pub.event)
        env = pub.envelope(kind())
        out = [Outgoing(f"t{i}", env.ticket_id, env), Outgoing(f"u{i}", env.ticket_id, env)]
        return [out[0], _NoTopic(out[1])] if i == 4 else out

    relay = OutboxRelay(settings=SimpleNamespace(service="intake", schema="s",
                                                 lifecycle_topic="t"),
                        app=None, pool=None, translate=translate)
    got = relay._encode_at_commit([(e, _context(rng)) for e in stored])
    assert got[4] is None
    for i, data in enumerate(got):
        if i == 4:
            continue
        records = decode_records(data)
        assert [r[0] for r in records] == [f"t{i}", f"u{i}"]
        for *_, headers, _hashed in records:
            assert dict(headers)["event_id"].decode() == events.event_id_for(
                stored[i].originator_id, stored[i].originator_version)
