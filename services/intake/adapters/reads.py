"""A pooled connection for reads that need no transaction: autocommit, so a SELECT is one
round trip, not BEGIN + SELECT + COMMIT (the pool's connections are not autocommit)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool


@contextmanager
def autocommit(pool: ConnectionPool) -> Iterator[psycopg.Connection[Any]]:
    with pool.connection() as conn:
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.autocommit = False  # as the pool's other users expect it
