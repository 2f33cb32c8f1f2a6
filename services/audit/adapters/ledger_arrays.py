"""The ledger append's parameters as PostgreSQL binary arrays (backbone.pg_arrays), one per
column, made in a few C-level calls each.

psycopg dumps a list parameter element by element in Python, after scanning it to choose the
element's dumper (`_find_list_element`, `_dump_list`): ~10 % of the audit service's CPU in the
end-to-end profile (docs/profiles/e2e.md), 17 lists per batch. The element types are known
here, so the arrays are made as the bytes `array_recv` reads. PostgreSQL casts an int8 array
to the int or smallint array a column wants (the statement's `::int[]`), so integers all go as
int8; timestamps go as timestamptz (microseconds since 2000-01-01 UTC), the time itself, never
its text.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from backbone.pg_arrays import BinaryArray, byteas, int8s, texts

__all__ = ["BinaryArray", "byteas", "int8s", "texts", "timestamptzs"]

_HEAD = struct.Struct(">iiiii")  # dimensions, has nulls, element oid, length, lower bound
_TIMESTAMPTZ, _TIMESTAMPTZ_ARRAY = 1184, 1185
_ELEMENT = struct.Struct(">iq")  # length 8, microseconds since PostgreSQL's epoch
_NULL = struct.pack(">i", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def timestamptzs(values: Sequence[datetime | None]) -> BinaryArray | list[datetime | None]:
    """timestamptz[] of aware datetimes, None as NULL. A naive datetime means the session's
    time zone to PostgreSQL: such a column is left to psycopg (returned as the list)."""
    parts: list[bytes] = []
    nulls = False
    for v in values:
        if v is None:
            parts.append(_NULL)
            nulls = True
        elif v.tzinfo is None:
            return list(values)
        else:
            parts.append(_ELEMENT.pack(8, (v - PG_EPOCH) // _MICROSECOND))
    return BinaryArray(_HEAD.pack(1, int(nulls), _TIMESTAMPTZ, len(values), 1) + b"".join(parts),
                       _TIMESTAMPTZ_ARRAY)
