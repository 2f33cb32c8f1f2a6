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

# the array header and element formats are backbone.pg_arrays' (timestamptz[] included)
from backbone.pg_arrays import BinaryArray, byteas, int8s, texts, timestamptzs

__all__ = ["BinaryArray", "byteas", "int8s", "texts", "timestamptzs"]
