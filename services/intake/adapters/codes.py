"""Ticket code sequences: one counter per region and day in PostgreSQL, handed out in blocks.

Each process reserves `block` numbers at a time (one short transaction), so a burst of
submissions does not pay a commit per code. A crash leaves a gap in the sequence, never a
duplicate; codes are unique, not dense.
"""

from __future__ import annotations

import threading
from datetime import date

from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool


def create_table(pool: ConnectionPool, schema: str) -> None:
    with pool.connection() as conn:
        conn.execute(SQL("CREATE TABLE IF NOT EXISTS {}.code_counters ("
                         " region text NOT NULL, day date NOT NULL, last bigint NOT NULL,"
                         " PRIMARY KEY (region, day))").format(Identifier(schema)))


class CodeSequence:
    def __init__(self, pool: ConnectionPool, schema: str, block: int = 50):
        self.pool = pool
        self.schema = schema
        self.block = block
        self._lock = threading.Lock()
        self._ranges: dict[tuple[str, date], tuple[int, int]] = {}  # next, last reserved

    def next(self, region: str, day: date) -> int:
        with self._lock:
            key = (region, day)
            nxt, last = self._ranges.get(key, (1, 0))
            if nxt > last:
                last = self._reserve(region, day)
                nxt = last - self.block + 1
            self._ranges[key] = (nxt + 1, last)
            return nxt

    def has_next(self, region: str, day: date) -> bool:
        """Whether `next` can answer without a round trip (a number of the block is left)."""
        nxt, last = self._ranges.get((region, day), (1, 0))
        return nxt <= last

    def reserve_ahead(self, region: str, day: date) -> None:
        """Reserve the next block now if this one is spent (from a worker thread, so that the
        async path's `next` then answers without a round trip)."""
        with self._lock:
            key = (region, day)
            nxt, last = self._ranges.get(key, (1, 0))
            if nxt > last:
                last = self._reserve(region, day)
                self._ranges[key] = (last - self.block + 1, last)

    def _reserve(self, region: str, day: date) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(
                SQL("INSERT INTO {}.code_counters (region, day, last) VALUES (%s, %s, %s)"
                    " ON CONFLICT (region, day) DO UPDATE SET last = code_counters.last + %s"
                    " RETURNING last").format(Identifier(self.schema)),
                (region, day, self.block, self.block)).fetchone()
        assert row is not None
        return int(row[0])
