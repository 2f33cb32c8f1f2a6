"""One-dimensional PostgreSQL arrays in the binary wire format, made in a few C-level calls.

The store inserts a batch's events as one `INSERT ... SELECT unnest(array), ...` (see
backbone.store.TrackedRecorder). psycopg dumps a Python list parameter element by element in
Python (`ListBinaryDumper._dump_list`), and first scans it to choose the element's dumper
(`_find_list_element`, again in `upgrade`), for every array of every batch. The element types
here are known when the statement is written, so each column is made here, as the bytes
PostgreSQL's `array_recv` reads: a header (dimensions, null flag, element type, length, lower
bound 1), then per element its length (-1: NULL) and its bytes. psycopg sends them as they
are (`BinaryArray`'s dumper, registered on psycopg's global adapters when this module is
imported: connections made afterwards copy it), with the array type's oid.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

# (element oid, array oid) of the types the store sends
UUID, INT8, TEXT, BYTEA = (2950, 2951), (20, 1016), (25, 1009), (17, 1001)
TIMESTAMPTZ = (1184, 1185)

_HEAD = struct.Struct(">iiiii")  # dimensions, has nulls, element oid, length, lower bound
_LENGTH = struct.Struct(">i")
_INT8 = struct.Struct(">iq")
_NULL = _LENGTH.pack(-1)
_UUID_LENGTH = _LENGTH.pack(16)
_uuid_bytes = attrgetter("bytes")
_TIMESTAMPTZ_ELEMENT = struct.Struct(">iq")  # length 8, microseconds since PostgreSQL's epoch
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class BinaryArray:
    """An array already in PostgreSQL's binary format, with its type's oid."""

    __slots__ = ("data", "oid")

    def __init__(self, data: bytes, oid: int) -> None:
        self.data = data
        self.oid = oid


class BinaryArrayDumper(Dumper):
    format = Format.BINARY

    def get_key(self, obj: Any, format: Any) -> Any:
        return (BinaryArray, obj.oid)

    def upgrade(self, obj: Any, format: Any) -> Dumper:
        dumper = BinaryArrayDumper(BinaryArray)
        dumper.oid = obj.oid
        return dumper

    def dump(self, obj: Any) -> bytes:
        return obj.data  # type: ignore[no-any-return]


def _array(kind: tuple[int, int], n: int, body: bytes, nulls: bool = False) -> BinaryArray:
    return BinaryArray(_HEAD.pack(1, int(nulls), kind[0], n, 1) + body, kind[1])


def uuids(values: Sequence[uuid.UUID]) -> BinaryArray:
    """uuid[] of UUID objects (none NULL)."""
    return _array(UUID, len(values), b"".join(chain.from_iterable(
        zip(repeat(_UUID_LENGTH), map(_uuid_bytes, values)))))


def int8s(values: Sequence[int]) -> BinaryArray:
    """int8[] of ints (none NULL)."""
    return _array(INT8, len(values), b"".join(map(_INT8.pack, repeat(8), values)))


def texts(values: Sequence[str | None]) -> BinaryArray:
    """text[] of strings, None as NULL. A column of one value in every row (a batch's topic
    when its events are of one class, most of the events' context fields; `list.count`, in C,
    tells) is that value's element repeated, not encoded and prefixed row by row."""
    n = len(values)
    if n > 1 and values.count(values[0]) == n:
        value = values[0]
        if value is None:
            return _array(TEXT, n, _NULL * n, nulls=True)
        data = value.encode()
        return _array(TEXT, n, (_LENGTH.pack(len(data)) + data) * n)
    return _bytes_array(TEXT, [None if v is None else v.encode() for v in values])


def byteas(values: Sequence[bytes | None]) -> BinaryArray:
    """bytea[] of bytes, None as NULL."""
    return _bytes_array(BYTEA, values)


def timestamptzs(values: Sequence[datetime | None]) -> BinaryArray | list[datetime | None]:
    """timestamptz[] of aware datetimes (the time itself, never its text), None as NULL. A
    naive datetime means the session's time zone to PostgreSQL: then the list is returned as
    it is, for psycopg to dump."""
    parts: list[bytes] = []
    nulls = False
    for v in values:
        if v is None:
            parts.append(_NULL)
            nulls = True
        elif v.tzinfo is None:
            return list(values)
        else:
            parts.append(_TIMESTAMPTZ_ELEMENT.pack(8, (v - PG_EPOCH) // _MICROSECOND))
    return _array(TIMESTAMPTZ, len(values), b"".join(parts), nulls=nulls)


def _bytes_array(kind: tuple[int, int], values: Sequence[bytes | None]) -> BinaryArray:
    if None not in values:
        lengths = map(_LENGTH.pack, map(len, values))  # type: ignore[arg-type]
        body = b"".join(chain.from_iterable(zip(lengths, values, strict=True)))  # type: ignore[arg-type]
        return _array(kind, len(values), body)
    parts: list[bytes] = []
    for v in values:
        if v is None:
            parts.append(_NULL)
        else:
            parts += (_LENGTH.pack(len(v)), v)
    return _array(kind, len(values), b"".join(parts), nulls=True)


psycopg.adapters.register_dumper(BinaryArray, BinaryArrayDumper)  # no I/O: a table entry
