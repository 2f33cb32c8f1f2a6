"""The event envelope: codec, deterministic ids, owners and trace context.

Every event type is a protobuf message declared in `proto/minsheng/v1/<service>_events.proto`;
the file an event is declared in names the one service that may produce it. Consumers refuse
an envelope whose producer is not the owner of its event type.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from google.protobuf.message import DecodeError, Message
from minsheng.v1 import common_pb2, envelope_pb2

from backbone import record_batches

SERVICES = ("intake", "dispatch", "sla", "feedback", "analytics", "audit", "notifier")
SCHEMA_VERSION = 1
# Namespace of event ids: uuid5(EVENT_NAMESPACE, "<aggregate id>:<version>[:<n>]")
EVENT_NAMESPACE = uuid.UUID("5b0c6a57-3f5e-4d0a-9c55-6d2f1a0e1345")


class EnvelopeError(ValueError):
    """An envelope that no consumer may apply; the reason says why."""


class UndecodableEventError(EnvelopeError):
    pass


class UnknownEventTypeError(EnvelopeError):
    pass


class WrongProducerError(EnvelopeError):
    pass


@dataclass(frozen=True)
class EventType:
    name: str
    owner: str
    message_class: type[Message]


@cache
def catalogue() -> dict[str, EventType]:
    """Every event type, from the generated modules of `<service>_events.proto`."""
    found: dict[str, EventType] = {}
    for service in SERVICES:
        try:
            module = importlib.import_module(f"minsheng.v1.{service}_events_pb2")
        except ModuleNotFoundError:
            continue
        for name, descriptor in module.DESCRIPTOR.message_types_by_name.items():
            if name in found:
                raise RuntimeError(f"event type {name} is declared twice")
            found[name] = EventType(name, service, getattr(module, descriptor.name))
    return found


def owner_of(event_type: str) -> str:
    try:
        return catalogue()[event_type].owner
    except KeyError:
        raise UnknownEventTypeError(f"unknown event type {event_type!r}") from None


def event_id_for(aggregate_id: uuid.UUID | str, version: int, n: int = 0) -> str:
    """Deterministic: the same stored event always gets the same id, however often published.
    It is `str(uuid.uuid5(EVENT_NAMESPACE, name))`, computed without the UUID object (the relay
    makes one per message): the sha1's first 32 hex digits with the version digit set to 5 and
    the variant digit's top bits to 10 (a table of the 16 digits). A UUID's text is written
    here, as UUID.__str__ writes it, without its call: from its 16 bytes, the first 4 and the
    last 6 in hex, the 6 between in hex with a dash every 2 (0.6 -> 0.4 us against the 128-bit
    integer formatted and sliced five times)."""
    if type(aggregate_id) is _UUID:  # the name in one text
        b = aggregate_id.int.to_bytes(16, "big")
        name = (f"{b[:4].hex()}-{b[4:10].hex('-', 2)}-{b[10:].hex()}:{version}:{n}" if n else
                f"{b[:4].hex()}-{b[4:10].hex('-', 2)}-{b[10:].hex()}:{version}")
    else:
        name = f"{aggregate_id}:{version}:{n}" if n else f"{aggregate_id}:{version}"
    digest = _NAMESPACE_SHA1.copy()  # the namespace's bytes hashed once
    digest.update(name.encode())
    x = digest.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


# the RFC 4122 variant digit (0b10xx) of each hex digit the sha1 gave
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}
_NAMESPACE_BYTES = EVENT_NAMESPACE.bytes
_UUID = uuid.UUID
_NAMESPACE_SHA1 = hashlib.sha1(_NAMESPACE_BYTES)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def new_trace_id() -> str:
    return os.urandom(16).hex()


def trace_id_for(event_id: str) -> str:
    """The trace id of an event that arrived with none: a new trace, named after the event so
    that publishing the same event again gives the same bytes (a random one would make each
    republication differ, and an auditor comparing a store with the ledger could not tell a
    republication from a change)."""
    return hashlib.sha256(b"trace:" + event_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class BareMessage:
    """A protobuf message published without an envelope (intake's replies to adapters,
    feedback's notices, sla's official schedules), with what the relay writes as every
    message's headers (`kafka_headers`): its event type, id and producer, its trace id (made
    from the event id when it has none) and its time, when it has one."""

    message: Any
    event_type: str
    producer: str
    event_id: str
    given_trace_id: str = ""
    occurred_at: Any = None  # a protobuf Timestamp; None: no `occurred_at_us` header

    @property
    def trace_id(self) -> str:
        return self.given_trace_id or trace_id_for(self.event_id)

    def SerializeToString(self) -> bytes:  # noqa: N802  (protobuf's name, the relay calls it)
        return self.message.SerializeToString()


def traceparent(trace_id: str, span_id: str | None = None) -> str:
    """A W3C traceparent; a new span id by default (unique, not secret: no system call for it,
    the relay makes one per message)."""
    return f"00-{trace_id}-{span_id or f'{_spans.getrandbits(64) or 1:016x}'}-01"


_spans = random.Random()  # seeded from the system once, and again in a forked child
os.register_at_fork(after_in_child=_spans.seed)


def trace_id_from(traceparent_value: str | None) -> str | None:
    """The trace id of a W3C `traceparent` value, or None when it is malformed."""
    if not traceparent_value:
        return None
    parts = traceparent_value.strip().split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1].lower()


def make_envelope(
    *,
    payload: Message,
    event_id: str,
    ticket_id: str,
    ticket_code: str,
    producer: str,
    occurred_at: datetime,
    actor: common_pb2.Actor | None = None,
    causation_id: str = "",
    trace_id: str = "",
) -> envelope_pb2.Envelope:
    env = envelope_made(payload, event_id, ticket_id, ticket_code, producer, occurred_at,
                        causation_id, trace_id)[0]
    if actor is not None:
        env.actor.CopyFrom(actor)
    return env


def envelope_made(payload: Message, event_id: str, ticket_id: str, ticket_code: str,
                  producer: str, occurred_at: datetime, causation_id: str, trace_id: str
                  ) -> tuple[envelope_pb2.Envelope, int]:
    """`make_envelope` (without an actor) by position, and the time it holds in microseconds
    since the epoch (its Timestamp's seconds * 10**6 + nanos // 1000, what the record's
    `occurred_at_us` header says): Publication.envelope's (a call of nine keyword arguments
    cost more than the positions; the microseconds, kept for `made_record_body`, are not
    worked out from the datetime a second time)."""
    kind = type(payload)
    named = _named.get(kind)
    if named is None:
        named = _named[kind] = (kind.DESCRIPTOR.name, owner_of(kind.DESCRIPTOR.name))
    event_type, owner = named
    if owner != producer:
        raise WrongProducerError(f"{event_type} is owned by {owner}, not {producer}")
    # field by field: upb's keyword constructor costs more than these assignments, and a
    # proto3 string left "" is the same bytes as one never set
    env = _Envelope()
    env.event_id = event_id
    if ticket_id:
        env.ticket_id = ticket_id
    if ticket_code:
        env.ticket_code = ticket_code
    env.event_type = event_type
    env.producer = producer
    if causation_id:
        env.causation_id = causation_id
    env.trace_id = trace_id or trace_id_for(event_id)
    env.schema_version = SCHEMA_VERSION
    env.payload = payload.SerializeToString()
    # Timestamp.FromDatetime's arithmetic, without its time tuple (same seconds and nanos); an
    # aware datetime's difference from the epoch needs no astimezone
    try:
        since = occurred_at - _EPOCH
    except TypeError:  # a naive datetime: local time, as FromDatetime takes it
        since = occurred_at.astimezone(UTC) - _EPOCH
    at = env.occurred_at
    at.seconds = seconds = since.days * 86400 + since.seconds
    at.nanos = since.microseconds * 1000
    return env, seconds * 1_000_000 + since.microseconds


# each payload class's (event type, owner), looked up once
_named: dict[type[Message], tuple[str, str]] = {}


_FIRST_SECOND, _LAST_SECOND = -62135596800, 253402300799  # the seconds a Timestamp may hold


def timestamp_datetime(ts: Any) -> datetime:
    """A protobuf Timestamp as an aware UTC datetime: the instant `ts.ToDatetime(tzinfo=UTC)`
    gives (microseconds, rounded toward zero), without its generic checks' and arithmetic's
    cost on the valid range; outside it, ToDatetime's own error (ValueError)."""
    seconds, nanos = ts.seconds, ts.nanos
    if not (_FIRST_SECOND <= seconds <= _LAST_SECOND and 0 <= nanos < 1_000_000_000):
        return ts.ToDatetime(tzinfo=UTC)  # raises, as it always did
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


@dataclass(frozen=True)
class DecodedEvent:
    envelope: envelope_pb2.Envelope
    payload: Any  # the message instance named by envelope.event_type

    @property
    def event_type(self) -> str:
        return self.envelope.event_type

    @property
    def event_id(self) -> str:
        return self.envelope.event_id

    @property
    def ticket_id(self) -> str:
        return self.envelope.ticket_id

    @property
    def occurred_at(self) -> datetime:
        return timestamp_datetime(self.envelope.occurred_at)


def decode(raw: bytes) -> DecodedEvent:
    """Decode and check an envelope; raises an EnvelopeError subclass with the reason."""
    return DecodedEvent(*decode_parts(raw))


def checked_envelope(raw: bytes, env: envelope_pb2.Envelope | None = None
                     ) -> tuple[envelope_pb2.Envelope, Any]:
    """The envelope, checked as :func:`decode` checks it, and its catalogue entry, without
    parsing the payload (for a reader that needs only the envelope's fields). ``env``: a
    message to parse into (reused by a loop over many)."""
    env = env if env is not None else envelope_pb2.Envelope()
    try:
        env.ParseFromString(raw)
    except DecodeError as exc:
        raise UndecodableEventError(f"not an Envelope: {exc}") from exc
    if not env.event_id or not env.event_type or not env.ticket_id:
        raise UndecodableEventError("envelope lacks event_id, event_type or ticket_id")
    if env.schema_version > SCHEMA_VERSION:
        raise UndecodableEventError(f"schema version {env.schema_version} is newer than ours")
    kind = catalogue().get(env.event_type)
    if kind is None:
        raise UnknownEventTypeError(f"unknown event type {env.event_type!r}")
    if env.producer != kind.owner:
        raise WrongProducerError(
            f"{env.event_type} must come from {kind.owner}, envelope names {env.producer!r}")
    return env, kind


def decode_parts(raw: bytes) -> tuple[envelope_pb2.Envelope, Any]:
    """:func:`decode`'s envelope and payload, without the DecodedEvent around them (for a
    loop over many envelopes, e.g. a rebuild from the audit ledger)."""
    env, kind = checked_envelope(raw)
    payload = kind.message_class()
    try:
        payload.ParseFromString(env.payload)
    except DecodeError as exc:
        raise UndecodableEventError(f"payload is not a {env.event_type}: {exc}") from exc
    return env, payload


def kafka_headers(env: envelope_pb2.Envelope) -> list[tuple[str, bytes]]:
    """What a consumer may read without decoding: the type (consumption by interest), the
    producer and the business time (event-time watermarks), and the trace."""
    if type(env) is _Envelope:  # one list, the traceparent made here (one call less)
        at = env.occurred_at  # Timestamp.ToMicroseconds, without its call
        return [
            ("event_type", env.event_type.encode()),
            ("event_id", env.event_id.encode()),
            ("producer", env.producer.encode()),
            ("occurred_at_us", str(at.seconds * 1_000_000 + at.nanos // 1000).encode()),
            ("traceparent",
             f"00-{env.trace_id}-{_spans.getrandbits(64) or 1:016x}-01".encode()),
        ]
    headers = [
        ("event_type", env.event_type.encode()),
        ("event_id", env.event_id.encode()),
        ("producer", env.producer.encode()),
        ("traceparent", traceparent(env.trace_id).encode()),
    ]
    occurred_at = getattr(env, "occurred_at", None)  # envelope-like messages may lack it
    if occurred_at is not None:  # Timestamp.ToMicroseconds, without its call
        micros = occurred_at.seconds * 1_000_000 + occurred_at.nanos // 1000
        headers.insert(3, ("occurred_at_us", str(micros).encode()))
    return headers


_Envelope = envelope_pb2.Envelope
# kafka_headers' names for an Envelope, each as a Kafka record writes it (length, UTF-8)
_RECORD_NAMES = tuple(record_batches.header_name(n) for n in (
    "event_type", "event_id", "producer", "occurred_at_us", "traceparent"))


def kafka_record_body(key: bytes, env: Any) -> tuple[bytes, bytes]:
    """(the envelope's bytes, the Kafka record body of the message: `key`, those bytes and
    `kafka_headers(env)`, as backbone.record_batches.record_body writes them) without the
    headers' list: for an Envelope, its five headers written straight into the body."""
    value = env.SerializeToString()
    if type(env) is not _Envelope:
        return value, record_batches.record_body(key, value, kafka_headers(env))
    at = env.occurred_at
    event_type, event_id = env.event_type.encode(), env.event_id.encode()
    producer = env.producer.encode()
    micros = str(at.seconds * 1_000_000 + at.nanos // 1000).encode()
    trace = f"00-{env.trace_id}-{_spans.getrandbits(64) or 1:016x}-01".encode()
    lengths, (n_type, n_id, n_producer, n_micros, n_trace) = record_batches.LENGTHS, _RECORD_NAMES
    try:
        return value, b"".join((
            lengths[len(key)], key, lengths[len(value)], value, b"\x0a",  # five headers
            n_type, lengths[len(event_type)], event_type, n_id, lengths[len(event_id)], event_id,
            n_producer, lengths[len(producer)], producer, n_micros, lengths[len(micros)], micros,
            n_trace, lengths[len(trace)], trace))
    except IndexError:  # something of 8 KiB or more: lengths of more bytes
        return value, record_batches.record_body(key, value, [
            ("event_type", event_type), ("event_id", event_id), ("producer", producer),
            ("occurred_at_us", micros), ("traceparent", trace)])


def made_record_body(key: bytes, made: tuple[Any, str, str, int, type, str]) -> bytes:
    """`kafka_record_body(key, env)[1]` of an Envelope `env` that envelope_made made, `made`
    being (env, the event id, the trace id given ("": derived from the event id, as
    make_envelope does), the time in microseconds since the epoch as envelope_made gave it,
    the payload's class (its event type), the producer), its fields not changed since: the
    headers written from those values instead of read back from the message, the event
    type's and the producer's made once (`_made_heads`)."""
    env, event_id, trace_id, micros_since, payload_class, producer = made
    value = env.SerializeToString()
    heads = _HEADS.get((payload_class, producer)) or _made_heads(payload_class, producer)
    trace_id = trace_id or trace_id_for(event_id)
    if heads[1] is None or len(event_id) != 36 or len(trace_id) != 32 or not (
            event_id.isascii() and trace_id.isascii()):
        return kafka_record_body(key, env)[1]  # (one-byte header lengths only, below)
    micros = str(micros_since)  # Timestamp's seconds * 10**6 + nanos // 1000
    # the headers after the event type's, as one ASCII text: the event id, the producer's
    # header and the time's name, the time, the traceparent's name and value (every length
    # under 64: one byte, an ASCII character)
    tail = (f"{event_id}{heads[1]}{_LENGTH_CHARS[len(micros)]}{micros}{_TRACEPARENT}00-"
            f"{trace_id}-{_spans.getrandbits(64) or 1:016x}-01").encode()
    lengths = record_batches.LENGTHS
    try:
        return b"".join((lengths[len(key)], key, lengths[len(value)], value, heads[0], tail))
    except IndexError:  # a key or value of 8 KiB or more: lengths of more bytes
        return record_batches.varint(len(key)) + key + record_batches.varint(len(value)) + (
            value + heads[0] + tail)


def _made_heads(payload_class: type, producer: str) -> tuple[bytes, str | None]:
    """`made_record_body`'s constant parts for a payload class and producer: (the number of
    headers, the event type's header and the event id's name and length; the producer's header
    and the time's name, as text, or None where it is not ASCII or too long for one byte)."""
    event_type = payload_class.DESCRIPTOR.name.encode()  # type: ignore[attr-defined]
    n_type, n_id, n_producer, n_micros, _ = _RECORD_NAMES
    lengths = record_batches.LENGTHS
    first = b"\x0a" + n_type + lengths[len(event_type)] + event_type + n_id + lengths[36]
    raw = producer.encode()
    middle = n_producer + lengths[len(raw)] + raw + n_micros
    heads = _HEADS[(payload_class, producer)] = (
        first, middle.decode() if middle.isascii() and len(raw) < 64 else None)
    return heads


_HEADS: dict[tuple[type, str], tuple[bytes, str | None]] = {}
_LENGTH_CHARS = [chr(2 * n) for n in range(64)]  # a length under 64 as its one-byte varint
_TRACEPARENT = (_RECORD_NAMES[4] + record_batches.LENGTHS[55]).decode()  # name, value's length


def header(headers: Any, name: str) -> str | None:
    """One Kafka header's value as text, or None when absent or not UTF-8."""
    for key, value in headers or ():
        if key == name:
            try:
                return bytes(value).decode()
            except UnicodeDecodeError:
                return None
    return None


def header_time(headers: Any) -> datetime | None:
    """The business time the relay put in the headers, or None when absent."""
    value = header(headers, "occurred_at_us")
    if value is None or not value.lstrip("-").isdigit():
        return None
    return _EPOCH + timedelta(microseconds=int(value))


def actor(role: str, id: str = "", unit: str = "") -> common_pb2.Actor:
    return common_pb2.Actor(role=role, id=id, unit=unit)


def utcnow() -> datetime:
    return datetime.now(UTC)
