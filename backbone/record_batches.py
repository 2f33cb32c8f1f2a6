"""Kafka record batches made from records encoded at commit: the relay's send path.

A record of Kafka's message format v2 is its length, attributes, timestamp delta, offset
delta, then the key, the value and the headers (each length-prefixed, zigzag varints). Only
the offset delta depends on where the record lands in a batch (the timestamp delta is 0: a
batch's records take the time it is built). So the outbox stores each message as its record
*body* (key, value, headers: `record_body`), made once at commit, and the relay's send
writes a batch as bytes: per record a length, two zero bytes and its offset, then the body
as stored (`PreparedBatch`). aiokafka's own builder re-encodes every key, value and header
name per message in Python-visible calls and returns a metadata object for each (~2.5 µs a
message, a quarter of the relay's CPU); this is one `join` a batch.

`PreparedBatch` is what `AIOKafkaProducer.send_batch` takes in place of its `BatchBuilder`
(closed, complete): the producer sets its idempotence state (producer id, epoch, base
sequence) when its sender takes the batch, and the bytes, header and CRC-32C as
aiokafka's DefaultRecordBatchBuilder writes them, are built once then (a retry resends
the same bytes).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from itertools import chain
from operator import add
from typing import Any

from aiokafka.record.util import calc_crc32c

# DefaultRecordBatch's header (aiokafka.record.default_records.DefaultRecordBase.HEADER_STRUCT)
_HEADER = struct.Struct(">qiibIhiqqqhii")
_CRC_AT = struct.calcsize(">qiib")  # the CRC's offset
_ATTRIBUTES_AT = struct.calcsize(">qiibI")  # the CRC covers the batch from here
_AFTER_LENGTH = struct.calcsize(">qi")
_MAGIC = 2
_NO_PARTITION_LEADER_EPOCH = -1
_CRC = struct.Struct(">I")


def _zigzag_varint(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_TABLE = 8192  # lengths and offsets below this are one lookup
_VARINTS = [_zigzag_varint(i) for i in range(_TABLE)]
# a record's attributes (0), timestamp delta (0) and offset delta, by offset
_PREFIXES = [b"\x00\x00" + v for v in _VARINTS]
_PREFIX_LENGTHS = list(map(len, _PREFIXES))
_NULL = _zigzag_varint(-1)


def varint(n: int) -> bytes:
    """Kafka's zigzag varint of a non-negative `n`."""
    return _VARINTS[n] if n < _TABLE else _zigzag_varint(n)


LENGTHS = _VARINTS  # varint(n) for n < len(LENGTHS), one lookup
_NAMES: dict[str, bytes] = {}  # a header name as a record writes it (length, UTF-8), once each


def header_name(name: str) -> bytes:
    """A header's name as a record writes it: its length, then its UTF-8."""
    encoded = _NAMES.get(name)
    if encoded is None:
        raw = name.encode()
        encoded = _NAMES[name] = varint(len(raw)) + raw
    return encoded


def record_body(key: bytes | None, value: bytes | None,
                headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    """A record's key, value and headers as message format v2 writes them (what follows the
    offset delta): the same bytes aiokafka's builder writes for them."""
    lengths, names = _VARINTS, _NAMES
    try:  # the usual message: lengths under _TABLE, no None, header names seen before
        parts = [lengths[len(key)], key, lengths[len(value)], value,  # type: ignore[arg-type]
                 lengths[len(headers)]]
        for name, header_value in headers:
            parts += (names[name], lengths[len(header_value)], header_value)  # type: ignore[arg-type]
    except (IndexError, KeyError, TypeError):
        return _record_body(key, value, headers)
    return b"".join(parts)  # type: ignore[arg-type]


def _record_body(key: bytes | None, value: bytes | None,
                 headers: Sequence[tuple[str, bytes | None]]) -> bytes:
    parts = [_NULL] if key is None else [varint(len(key)), key]
    if value is None:
        parts.append(_NULL)
    else:
        parts += (varint(len(value)), value)
    parts.append(varint(len(headers)))
    for name, header_value in headers:
        parts.append(header_name(name))
        if header_value is None:
            parts.append(_NULL)
        else:
            parts += (varint(len(header_value)), header_value)
    return b"".join(parts)


def parse_body(body: bytes) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes | None]]]:
    """`record_body`'s inverse (for tests and tools; the relay never parses a body)."""
    pos = 0

    def read_varint() -> int:
        nonlocal pos
        shift = result = 0
        while True:
            byte = body[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
            shift += 7

    def read_bytes() -> bytes | None:
        nonlocal pos
        n = read_varint()
        if n < 0:
            return None
        pos += n
        return bytes(body[pos - n:pos])

    key, value = read_bytes(), read_bytes()
    headers = []
    for _ in range(read_varint()):
        name = read_bytes()
        headers.append(((name or b"").decode(), read_bytes()))
    if pos != len(body):
        raise ValueError("a record body with trailing bytes")
    return key, value, headers


def records_of(bodies: Sequence[bytes]) -> bytes:
    """The records of a batch (after its header): each body behind its length, attributes,
    timestamp delta 0 and offset delta. The usual batch (under _TABLE records, each under
    _TABLE bytes) in C-level iteration: table lookups zipped, one join."""
    n = len(bodies)
    if n <= _TABLE:
        totals = list(map(add, _PREFIX_LENGTHS[:n], map(len, bodies)))
        if not totals or max(totals) < _TABLE:
            return b"".join(chain.from_iterable(zip(
                map(_VARINTS.__getitem__, totals), _PREFIXES[:n], bodies, strict=True)))
    parts: list[bytes] = []
    for offset, body in enumerate(bodies):
        prefix = _PREFIXES[offset] if offset < _TABLE else b"\x00\x00" + _zigzag_varint(offset)
        parts += (varint(len(prefix) + len(body)), prefix, body)
    return b"".join(parts)


class PreparedBatch:
    """A closed batch of records for `AIOKafkaProducer.send_batch` (the interface aiokafka's
    MessageBatch uses of its BatchBuilder), built from record bodies."""

    __slots__ = ("_buffer", "_count", "_records", "_state")

    def __init__(self, bodies: Sequence[bytes]) -> None:
        if not bodies:
            raise ValueError("an empty batch")
        self._records = records_of(bodies)
        self._count = len(bodies)
        self._state = (-1, -1, 0)  # producer id, epoch, base sequence: BatchBuilder's defaults
        self._buffer: bytearray | None = None

    def append(self, **_: Any) -> None:
        return None  # closed: the producer's own sends start a batch of their own

    def close(self) -> None:
        pass

    def closed(self) -> bool:
        return True

    def record_count(self) -> int:
        return self._count

    def size(self) -> int:
        return _HEADER.size + len(self._records)

    def _set_producer_state(self, producer_id: int, producer_epoch: int, base_sequence: int) -> None:
        self._state = (producer_id, producer_epoch, base_sequence)

    def _build(self) -> bytearray:
        """The batch's bytes, built once (a retry sends the same bytes, sequence included)."""
        if self._buffer is None:
            now = int(time.time() * 1000)
            producer_id, epoch, sequence = self._state
            buffer = bytearray(_HEADER.pack(
                0, _HEADER.size - _AFTER_LENGTH + len(self._records), _NO_PARTITION_LEADER_EPOCH,
                _MAGIC, 0, 0, self._count - 1, now, now, producer_id, epoch, sequence,
                self._count))
            buffer += self._records
            _CRC.pack_into(buffer, _CRC_AT, calc_crc32c(memoryview(buffer)[_ATTRIBUTES_AT:]))
            self._buffer = buffer
            self._records = b""
        return self._buffer


def batches(bodies: Sequence[bytes], limit: int) -> list[PreparedBatch]:
    """`bodies` as batches of at most `limit` bytes each (the producer's max_batch_size; a
    record larger than that goes alone, as aiokafka's builder lets a first record through)."""
    out: list[PreparedBatch] = []
    room = limit - _HEADER.size
    size = sum(map(len, bodies)) + 8 * len(bodies)  # a record's prefix is <= 8 bytes here
    if size <= room:
        return [PreparedBatch(bodies)]
    start, used = 0, 0
    for i, body in enumerate(bodies):
        n = len(body) + 8
        if used + n > room and i > start:
            out.append(PreparedBatch(bodies[start:i]))
            start, used = i, 0
        used += n
    out.append(PreparedBatch(bodies[start:]))
    return out


def check_producer(producer: Any) -> int:
    """The producer's batch size limit; refuses a producer whose batches this cannot write
    (compressed or transactional ones)."""
    accumulator = producer._message_accumulator
    if accumulator._compression_type:
        raise ValueError("prepared record batches are not compressed; the relay's producer must not be")
    txn = accumulator._txn_manager
    if txn is not None and txn.transactional_id is not None:
        raise ValueError("prepared record batches are not transactional")
    return int(accumulator._batch_size)
