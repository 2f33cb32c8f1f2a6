"""Who read which history, when: append-only (the same triggers as the ledger, ledger_tables)
and hash-chained like the ledger (backbone/access_log.py), so a changed, deleted or inserted
row is found by `verify` (GET /v1/access-log/verify).

Every history read writes its row, and nothing is returned before that row is committed (the
commit waits for fsync, as every commit here). What a read pays for it is kept small without
weakening that:

* one round trip: the writer remembers the chain's head it last wrote, and sends BEGIN, the
  table's lock, the INSERT and COMMIT as one pipeline. The INSERT inserts nothing unless the
  table's head is still that hash (checked under the lock, so another replica's row in between
  is seen); then the rows are chained on the head read under the lock, as the shared
  AccessLog does, in a second transaction.
* group commit: reads recorded at the same moment share one transaction (one fsync). A read
  waits for the write in flight; the next writer takes every row queued meanwhile.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Composed

from backbone.access_log import GENESIS, MAX_WHY, entry_hash
from backbone.access_log import AccessLog as ChainedAccessLog
from backbone.auth import Principal
from backbone.privacy import mask_personal_data

_FIELDS = ("at", "sub", "role", "unit", "action", "target", "via", "why")
_TYPES = ("timestamptz", "text", "text", "text", "text", "text", "text", "text", "bytea", "bytea")


@dataclass
class _Pending:
    row: dict[str, Any]
    digest: bytes | None = None
    error: BaseException | None = None
    done: bool = False


def _row(who: Principal, *, action: str, target: str, via: str, why: str) -> dict[str, Any]:
    return {"at": datetime.now(UTC), "sub": who.sub, "role": who.role, "unit": who.unit,
            "action": action, "target": target, "via": via,
            "why": mask_personal_data(why.strip())[:MAX_WHY]}


class AccessLog(ChainedAccessLog):
    """The audit schema's `access_log` table (created by ledger_tables.create_tables)."""

    def __init__(self, pool: Any, schema: str, table: str = "access_log"):
        super().__init__(pool, schema, table)
        self._queue: list[_Pending] = []
        self._queued = threading.Lock()
        self._writing = threading.Lock()
        self._head: bytes | None = None  # the chain's head as this process last wrote it
        self._writers: ThreadPoolExecutor | None = None  # started by the first record_soon
        self._insert_sql: Composed | None = None
        self._known_head_sql: Composed | None = None

    def record(self, who: Principal, *, action: str, target: str, via: str,
               why: str = "") -> bytes:
        """Append one read, durably; returns its entry hash. ``why`` is masked (staff type it)."""
        return self._append(_row(who, action=action, target=target, via=via, why=why))

    def record_soon(self, who: Principal, *, action: str, target: str, via: str,
                    why: str = "") -> Future[bytes]:
        """:meth:`record` in a writer thread, so that a read can build its answer while the
        commit waits for the disk. The caller waits for the result before it answers."""
        row = _row(who, action=action, target=target, via=via, why=why)  # the read's time
        if self._writers is None:
            with self._queued:
                if self._writers is None:
                    self._writers = ThreadPoolExecutor(max_workers=4,
                                                       thread_name_prefix="access-log")
        return self._writers.submit(self._append, row)

    def _append(self, row: dict[str, Any]) -> bytes:
        pending = _Pending(row)
        with self._queued:
            self._queue.append(pending)
        with self._writing:
            if not pending.done:  # not taken by the write that was in flight: write the queue
                with self._queued:
                    batch, self._queue = self._queue, []
                self._write(batch)
        if pending.error is not None:
            raise pending.error
        assert pending.digest is not None
        return pending.digest

    def _write(self, batch: list[_Pending]) -> None:
        try:
            rows = [p.row for p in batch]
            digests = (self._append_on_known_head(rows) if self._head is not None else None) \
                or self._append_on_stored_head(rows)
            self._head = digests[-1]
            for p, digest in zip(batch, digests, strict=True):
                p.digest = digest
        except BaseException as err:
            self._head = None  # a failed commit may still have committed: read it next time
            for p in batch:
                p.error = err
            raise
        finally:
            for p in batch:
                p.done = True

    def _insert(self) -> Composed:
        """Composed once (every read of a history runs it); the arrays in binary (%b): their
        text form escapes every byte of the hashes."""
        if self._insert_sql is None:
            self._insert_sql = SQL(
                "INSERT INTO {} (" + ", ".join(_FIELDS) + ", prev_hash, entry_hash)"
                " SELECT " + ", ".join(f"r.{f}" for f in _FIELDS) + ", r.prev_hash, r.entry_hash"
                " FROM unnest(" + ", ".join(f"%b::{t}[]" for t in _TYPES) + ") WITH ORDINALITY"
                " AS r(" + ", ".join(_FIELDS) + ", prev_hash, entry_hash, n)").format(self.t)
        return self._insert_sql

    def _on_known_head(self) -> Composed:
        if self._known_head_sql is None:
            self._known_head_sql = self._insert() + SQL(
                " WHERE coalesce((SELECT entry_hash FROM {} WHERE entry_hash IS NOT NULL"
                " ORDER BY id DESC LIMIT 1), %s) = %s ORDER BY r.n").format(self.t)
        return self._known_head_sql

    def _columns(self, rows: list[dict[str, Any]], prev: bytes) -> tuple[list[bytes], list[Any]]:
        """Chain ``rows`` on ``prev``: their hashes, and the INSERT's arrays."""
        prevs, digests = [], []
        for row in rows:
            prevs.append(prev)
            prev = entry_hash(prev, row)
            digests.append(prev)
        return digests, [[r[f] for r in rows] for f in _FIELDS] + [prevs, digests]

    def _append_on_known_head(self, rows: list[dict[str, Any]]) -> list[bytes] | None:
        """One round trip; None when the table's head is no longer the one remembered."""
        assert self._head is not None
        digests, columns = self._columns(rows, self._head)
        query = self._on_known_head()
        with self.pool.connection() as conn:
            conn.autocommit = True  # BEGIN and COMMIT go in the pipeline, not as round trips
            try:
                insert = conn.cursor()
                with conn.pipeline():
                    conn.execute("BEGIN")
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_name,))
                    insert.execute(query, [*columns, GENESIS, self._head])
                    conn.execute("COMMIT")
                inserted = insert.rowcount  # the pipeline's end fetched every result
            except BaseException:
                if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
            finally:
                if not conn.closed:
                    conn.autocommit = False  # as the pool's other users expect it
        return digests if inserted == len(rows) else None

    def _append_on_stored_head(self, rows: list[dict[str, Any]]) -> list[bytes]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_name,))
            last = conn.execute(SQL("SELECT entry_hash FROM {} WHERE entry_hash IS NOT NULL"
                                    " ORDER BY id DESC LIMIT 1").format(self.t)).fetchone()
            digests, columns = self._columns(rows, bytes(last[0]) if last else GENESIS)
            conn.execute(self._insert() + SQL(" ORDER BY r.n"), columns)
        return digests
