"""An access log that shows tampering: every read of clear personal data (and audit's reads of
histories) as a row hash-chained to the one before, like the audit ledger.

    entry_hash = SHA-256(prev_hash || canonical JSON [at, sub, role, unit, action, target,
                                                     why, via])

with ``prev_hash`` of the first entry 32 zero bytes. Rows are appended under a transaction-
scoped advisory lock, so the chain is one line however many replicas write. Nothing is
returned before its row is committed (the commit waits for fsync), and a write costs one round
trip: the writer remembers the chain's head it last wrote and sends BEGIN, the lock, the
INSERT and COMMIT as one pipeline; the INSERT inserts nothing unless the table's head is still
that hash (checked under the lock, so another replica's row in between is seen), and then the
rows are chained on the head read under the lock, in a second transaction. Reads recorded at
the same moment share one transaction (group commit): a read waits for the write in flight;
the next write takes every row queued meanwhile. The table refuses
UPDATE, DELETE and TRUNCATE (triggers, and PUBLIC's privileges revoked); whoever gets round
that (a superuser disabling the triggers) is found by `verify`: a changed row no longer hashes
to its entry_hash, a deleted or inserted row breaks the next row's link. Cutting the newest rows
off is found by comparing with a head (count, hash) noted earlier: `verify` returns it.

`record_many` appends several reads as consecutive rows in the order given, in one commit
(intake's contact reads that arrive together; session 16).

Who uses it: intake (`/v1/tickets/{code}/contact`, `/v1/attachments/{sha256}`), audit (history
and ledger reads; `record_soon` sends the write and lets the read build its answer while the
commit waits for the disk: from the caller's own thread when no other write is in flight and
the head is known (no thread hand-off; session 24), else in a writer thread). `python -m backbone.access_log verify --schema intake` checks a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier

from backbone import pg_arrays
from backbone.auth import Principal
from backbone.privacy import mask_personal_data

GENESIS = b"\x00" * 32
MAX_WHY = 300
_FIELDS = ("at", "sub", "role", "unit", "action", "target", "via", "why")
_TYPES = ("timestamptz", "text", "text", "text", "text", "text", "text", "text", "bytea", "bytea")


def entry_hash(prev: bytes, row: dict[str, Any]) -> bytes:
    at: datetime = row["at"]
    body = [at.astimezone(UTC).isoformat(timespec="microseconds"), row["sub"], row["role"],
            row["unit"], row["action"], row["target"], row["why"], row["via"]]
    return hashlib.sha256(prev + json.dumps(body, ensure_ascii=False,
                                            separators=(",", ":")).encode()).digest()


def table_statements(schema: str, table: str = "access_log") -> list[Any]:
    """Create (or bring up to date) the table and its append-only triggers."""
    s, t = Identifier(schema), Identifier(table)
    trigger = f"{table}_append_only"
    return [
        SQL("CREATE TABLE IF NOT EXISTS {}.{} (id bigserial PRIMARY KEY,"
            " at timestamptz NOT NULL DEFAULT now(), sub text NOT NULL, role text NOT NULL,"
            " unit text NOT NULL, action text NOT NULL, target text NOT NULL,"
            " via text NOT NULL)").format(s, t),
        SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS why text NOT NULL DEFAULT ''")
        .format(s, t),
        SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS prev_hash bytea").format(s, t),
        SQL("ALTER TABLE {}.{} ADD COLUMN IF NOT EXISTS entry_hash bytea").format(s, t),
        SQL("CREATE OR REPLACE FUNCTION {}.{}() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN RAISE EXCEPTION 'the access log %.% is append-only: % refused',"
            " TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';"
            " END $$").format(s, Identifier(trigger)),
        SQL("CREATE OR REPLACE TRIGGER {} BEFORE UPDATE OR DELETE ON {}.{}"
            " FOR EACH ROW EXECUTE FUNCTION {}.{}()").format(
            Identifier(f"{table}_no_change"), s, t, s, Identifier(trigger)),
        SQL("CREATE OR REPLACE TRIGGER {} BEFORE TRUNCATE ON {}.{}"
            " FOR EACH STATEMENT EXECUTE FUNCTION {}.{}()").format(
            Identifier(f"{table}_no_truncate"), s, t, s, Identifier(trigger)),
        SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {}.{} FROM PUBLIC").format(s, t),
    ]


@dataclass(frozen=True)
class Finding:
    id: int
    problem: str


@dataclass
class _Pending:
    row: dict[str, Any]
    digest: bytes | None = None
    error: BaseException | None = None
    done: bool = False


def _settle(conn: psycopg.Connection[Any]) -> None:
    """A connection back as the pool's other users expect it: no transaction left open (a
    failed pipeline's), not in autocommit."""
    if not conn.closed:
        if conn.info.transaction_status != TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                conn.execute("ROLLBACK")
        conn.autocommit = False


class _InFlight:
    """A known-head write sent as one pipeline and not yet awaited."""

    def __init__(self, stack: ExitStack, insert: psycopg.Cursor[Any], digests: list[bytes]):
        self.stack, self.insert, self.digests = stack, insert, digests

    def wait(self) -> list[bytes] | None:
        """The rows' hashes once committed (the pipeline's end reads every result, COMMIT's
        included, and returns the connection); None when the head had moved (nothing
        inserted). Raises what the pipeline raised."""
        self.stack.close()
        return self.digests if self.insert.rowcount == len(self.digests) else None


class _Recording:
    """:meth:`AccessLog.record_soon`'s write sent from the caller's thread: ``result()``
    waits for its commit and frees the writer's turn it holds (once)."""

    def __init__(self, log: AccessLog, batch: list[_Pending], mine: _Pending):
        self.log, self.batch, self.mine = log, batch, mine
        self.flight: _InFlight | None = None
        self.failed: BaseException | None = None
        self._completed = False

    def complete(self) -> None:
        if self._completed:
            return
        self._completed = True
        log = self.log
        try:
            if getattr(log._mine, "recording", None) is self:
                log._mine.recording = None
            log._write(self.batch, self.flight, self.failed)
        except Exception:  # kept in each row's pending: result() raises it
            pass
        finally:
            log._writing.release()

    def result(self) -> bytes:
        self.complete()
        if self.mine.error is not None:
            raise self.mine.error
        assert self.mine.digest is not None
        return self.mine.digest


def _row(who: Principal, *, action: str, target: str, via: str, why: str) -> dict[str, Any]:
    return {"at": datetime.now(UTC), "sub": who.sub, "role": who.role, "unit": who.unit,
            "action": action, "target": target, "via": via,
            "why": mask_personal_data(why.strip())[:MAX_WHY]}


class AccessLog:
    """Append and verify one hash-chained access log table (pool: a psycopg_pool pool)."""

    def __init__(self, pool: Any, schema: str, table: str = "access_log"):
        self.pool, self.schema, self.table = pool, schema, table
        self.t = SQL("{}.{}").format(Identifier(schema), Identifier(table))
        self.lock_name = f"access-log:{schema}.{table}"
        self._queue: list[_Pending] = []
        self._queued = threading.Lock()
        self._writing = threading.Lock()
        self._head: bytes | None = None  # the chain's head as this process last wrote it
        self._writers: ThreadPoolExecutor | None = None  # started by the first record_soon
        self._mine = threading.local()  # .recording: this thread's write sent, not awaited
        self._insert_sql: Composed | None = None
        self._known_head_sql: bytes | None = None
        self._stored_head_sql: bytes | None = None

    def create(self) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_name + ":ddl",))
            for statement in table_statements(self.schema, self.table):
                conn.execute(statement)

    def record(self, who: Principal, *, action: str, target: str, via: str,
               why: str = "") -> bytes:
        """Append one read, durably; returns its entry hash. ``why`` is masked (staff type it)."""
        return self._append(_row(who, action=action, target=target, via=via, why=why))

    def record_many(self, reads: list[tuple[Principal, str, str, str, str]]) -> list[bytes]:
        """Append several reads (who, action, target, via, why), durably, in this order, in
        one commit (with any queued meanwhile): the entry hashes, in the same order. Each row
        is what :meth:`record` makes of it. A failed commit fails them all."""
        return self._append_all([_row(who, action=action, target=target, via=via, why=why)
                                 for who, action, target, via, why in reads])

    def record_soon(self, who: Principal, *, action: str, target: str, via: str,
                    why: str = "") -> Future[bytes] | _Recording:
        """:meth:`record`, sent now and awaited by ``result()``, so that a read can build its
        answer while the commit waits for the disk. The caller waits for the result before it
        answers. When no write is in flight and the head is known, the write (this row and any
        queued) goes out from this thread as one pipeline that ``result()`` reads back, the
        COMMIT's answer included: no thread hand-off, and no second thread wanting the GIL
        while the read builds its answer. Other writes wait for that ``result()`` (one write at
        a time, as always); this thread's own next record finishes it first. Otherwise the
        write goes to a writer thread."""
        row = _row(who, action=action, target=target, via=via, why=why)  # the read's time
        self._finish_mine()
        if self._head is not None and self._writing.acquire(blocking=False):
            if self._head is None:  # a failed write forgot it meanwhile: the writer thread's way
                self._writing.release()
            else:
                return self._send_soon(row)
        if self._writers is None:
            with self._queued:
                if self._writers is None:
                    self._writers = ThreadPoolExecutor(max_workers=4,
                                                       thread_name_prefix="access-log")
        return self._writers.submit(self._append, row)

    def _send_soon(self, row: dict[str, Any]) -> _Recording:
        """:meth:`record_soon`'s write from this thread, the writer's turn held (released by
        the recording's ``result()``): this row and any queued, on the head remembered."""
        mine = _Pending(row)
        with self._queued:
            batch, self._queue = [*self._queue, mine], []
        recording = _Recording(self, batch, mine)
        try:
            recording.flight = self._send([p.row for p in batch])
        except Exception as err:  # raised by result(), the turn freed there
            recording.failed = err
        except BaseException as err:  # the rows taken from the queue fail with it, as in _write
            self._head = None
            for p in batch:
                p.error, p.done = err, True
            self._writing.release()
            raise
        self._mine.recording = recording
        return recording

    def _append(self, row: dict[str, Any]) -> bytes:
        return self._append_all([row])[0]

    def _finish_mine(self) -> None:
        """Wait for the write this thread sent and has not awaited yet (its errors are for its
        own ``result()``): it holds the writer's turn, which this thread's next write needs."""
        recording = getattr(self._mine, "recording", None)
        if recording is not None:
            recording.complete()

    def _append_all(self, rows: list[dict[str, Any]]) -> list[bytes]:
        if not rows:
            return []
        self._finish_mine()
        pendings = [_Pending(row) for row in rows]
        with self._queued:
            self._queue.extend(pendings)  # together, in order: one write takes them all
        with self._writing:
            if not pendings[-1].done:  # not taken by the write in flight: write the queue
                with self._queued:
                    batch, self._queue = self._queue, []
                self._write(batch)
        for pending in pendings:
            if pending.error is not None:
                raise pending.error
        return [p.digest for p in pendings if p.digest is not None]

    def _write(self, batch: list[_Pending], flight: _InFlight | None = None,
               failed: BaseException | None = None) -> None:
        """Write ``batch`` (``flight``: its known-head write, sent already; ``failed``: what
        sending it raised)."""
        try:
            if failed is not None:
                raise failed
            rows = [p.row for p in batch]
            if flight is None and self._head is not None:
                flight = self._send(rows)
            digests = (flight.wait() if flight is not None else None) \
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
        """Composed once (every recorded read runs it); the arrays in binary (%b): their text
        form escapes every byte of the hashes."""
        if self._insert_sql is None:
            self._insert_sql = SQL(
                "INSERT INTO {} (" + ", ".join(_FIELDS) + ", prev_hash, entry_hash)"
                " SELECT " + ", ".join(f"r.{f}" for f in _FIELDS) + ", r.prev_hash, r.entry_hash"
                " FROM unnest(" + ", ".join(f"%b::{t}[]" for t in _TYPES) + ") WITH ORDINALITY"
                " AS r(" + ", ".join(_FIELDS) + ", prev_hash, entry_hash, n)").format(self.t)
        return self._insert_sql

    def _on_known_head(self) -> bytes:
        """Rendered to bytes once: psycopg renders a Composed again at every execute (it
        caches the parsing of bytes); the identifiers are the service's own names."""
        if self._known_head_sql is None:
            self._known_head_sql = (self._insert() + SQL(
                " WHERE coalesce((SELECT entry_hash FROM {} WHERE entry_hash IS NOT NULL"
                " ORDER BY id DESC LIMIT 1), %s) = %s ORDER BY r.n").format(self.t)).as_bytes(None)
        return self._known_head_sql

    def _on_stored_head(self) -> bytes:
        if self._stored_head_sql is None:
            self._stored_head_sql = (self._insert() + SQL(" ORDER BY r.n")).as_bytes(None)
        return self._stored_head_sql

    def _columns(self, rows: list[dict[str, Any]], prev: bytes) -> tuple[list[bytes], list[Any]]:
        """Chain ``rows`` on ``prev``: their hashes, and the INSERT's arrays, made in binary
        by backbone.pg_arrays (psycopg dumps a list parameter element by element in Python,
        after scanning it for the element's type; with the statement rendered once, a lone
        record took 0.55 -> 0.42 ms of CPU)."""
        prevs, digests = [], []
        for row in rows:
            prevs.append(prev)
            prev = entry_hash(prev, row)
            digests.append(prev)
        return digests, [pg_arrays.timestamptzs([r["at"] for r in rows]),
                         *(pg_arrays.texts([r[f] for r in rows]) for f in _FIELDS[1:]),
                         pg_arrays.byteas(prevs), pg_arrays.byteas(digests)]

    def _send(self, rows: list[dict[str, Any]]) -> _InFlight:
        """Send the write of ``rows`` on the head remembered, one pipeline (BEGIN, the lock,
        the INSERT, COMMIT) on a pooled connection, without waiting for its results: they are
        read by the flight's ``wait()`` (one round trip in all). The INSERT inserts nothing
        unless the table's head is still the one remembered."""
        assert self._head is not None
        digests, columns = self._columns(rows, self._head)
        query = self._on_known_head()
        stack = ExitStack()
        try:
            conn = stack.enter_context(self.pool.connection())
            conn.autocommit = True  # BEGIN and COMMIT go in the pipeline, not as round trips
            stack.callback(_settle, conn)  # after the pipeline's end, before the pool has it
            insert = conn.cursor()
            stack.enter_context(conn.pipeline())
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_name,))
            insert.execute(query, [*columns, GENESIS, self._head])
            conn.execute("COMMIT")
        except BaseException:
            stack.__exit__(*sys.exc_info())  # the pipeline ended, rolled back, conn returned
            raise
        return _InFlight(stack, insert, digests)

    def _append_on_stored_head(self, rows: list[dict[str, Any]]) -> list[bytes]:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.lock_name,))
            last = conn.execute(SQL("SELECT entry_hash FROM {} WHERE entry_hash IS NOT NULL"
                                    " ORDER BY id DESC LIMIT 1").format(self.t)).fetchone()
            digests, columns = self._columns(rows, bytes(last[0]) if last else GENESIS)
            conn.execute(self._on_stored_head(), columns)
        return digests

    def listing(self, *, after: int, limit: int, target: str = "") -> list[dict[str, Any]]:
        where = "WHERE id > %s" + (" AND target = %s" if target else "")
        params: tuple[Any, ...] = (after, target, limit) if target else (after, limit)
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(
                SQL("SELECT id, at, sub, role, unit, action, target, via, why, prev_hash,"
                    " entry_hash FROM {} " + where + " ORDER BY id LIMIT %s").format(self.t),
                params).fetchall()
        return [{**r, "at": r["at"].isoformat(),
                 "prev_hash": bytes(r["prev_hash"]).hex() if r["prev_hash"] else None,
                 "entry_hash": bytes(r["entry_hash"]).hex() if r["entry_hash"] else None}
                for r in rows]

    def verify(self, batch: int = 5000) -> dict[str, Any]:
        """Walk the whole chain. ``ok`` false with the rows found wrong; ``head`` = (entries,
        last hash) to note and compare later (a cut tail is seen only against a noted head)."""
        findings: list[Finding] = []
        expected, after, chained, unchained = GENESIS, 0, 0, 0
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            while True:
                rows = cur.execute(
                    SQL("SELECT id, at, sub, role, unit, action, target, via, why, prev_hash,"
                        " entry_hash FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(self.t),
                    (after, batch)).fetchall()
                for r in rows:
                    after = r["id"]
                    if r["entry_hash"] is None:
                        if chained:
                            findings.append(Finding(r["id"], "a row without a hash inside the "
                                                    "chain (inserted around the writer)"))
                        else:
                            unchained += 1  # written before the log was chained
                        continue
                    chained += 1
                    prev, stored = bytes(r["prev_hash"] or b""), bytes(r["entry_hash"])
                    if prev != expected:
                        findings.append(Finding(r["id"], "broken link: prev_hash is not the "
                                                "previous row's hash (a row deleted, inserted "
                                                "or reordered before this one)"))
                    if entry_hash(prev, r) != stored:
                        findings.append(Finding(r["id"], "the row does not hash to its "
                                                "entry_hash (changed after it was written)"))
                    expected = stored
                if len(rows) < batch:
                    break
        return {"ok": not findings, "entries": chained, "unchained_before": unchained,
                "head": expected.hex(),
                "findings": [{"id": f.id, "problem": f.problem} for f in findings[:100]]}


def main(argv: list[str] | None = None) -> int:
    from psycopg_pool import ConnectionPool

    from backbone.settings import ServiceSettings

    parser = argparse.ArgumentParser(prog="python -m backbone.access_log",
                                     description="verify a hash-chained access log")
    parser.add_argument("command", choices=["verify"])
    parser.add_argument("--schema", required=True, help="e.g. intake or audit")
    parser.add_argument("--table", default="access_log")
    parser.add_argument("--dbname", default="", help="default: MINSHENG_PG_DBNAME")
    args = parser.parse_args(argv)
    settings = ServiceSettings(service=args.schema, pg_schema=args.schema,
                               **({"pg_dbname": args.dbname} if args.dbname else {}))
    with ConnectionPool(settings.pg_conninfo(), min_size=1, max_size=1, open=True) as pool:
        report = AccessLog(pool, args.schema, args.table).verify()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
