"""psycopg's pipeline mode without a round of socket calls per statement (psycopg 3.3's
internals: written against 3.3.9, and checked by tests/integration/test_consumer_pipeline.py,
which asserts the lazy pipeline is the one in use).

Used by the consumers' batches (backbone/consumer.py): the same messages in the same order, in
fewer packets. (Tried for the event store's saves too, each part sent once made: dispatch's CPU
and its PostgreSQL backends' within the noise in 4 alternated pairs, the store's appends/s too;
not used there.)"""

from __future__ import annotations

import contextlib
from typing import Any

import psycopg
from psycopg.generators import send


class LazyPipeline(psycopg.Pipeline):
    """psycopg's pipeline, less its round of socket calls per statement.

    psycopg's `execute` in a pipeline queues the statement's libpq call, then
    `_communicate_gen` waits for the socket to be readable or writable (a `poll`), runs the
    call (the statement into libpq's output buffer), waits again and flushes (a `send`),
    and reads whatever answers have come: two or three system calls and a generator round
    per statement, whose answer nobody waits for yet (a transaction of 10 statements:
    198-217 us of client CPU, 122-128 us here, and the server's CPU about halved:
    docs/profiles/consumer-core.md, session 11). Here the call only appends to libpq's buffer (which libpq itself sends
    once it holds 64 KB); the buffer goes out, and the answers come back, where psycopg
    waits for them anyway: a read (`fetch*`, `_PipelinedCursor.rowcount`), which sends a
    flush request first, and the pipeline's end (Sync, then every answer). The same
    messages in the same order, in fewer packets; the server answers each as before, and
    an error is raised where the pipeline's errors already surface (a later read, the end)."""

    def _communicate_gen(self) -> Any:
        commands = self.command_queue
        while commands:
            commands.popleft()()
        return
        yield  # a generator, as psycopg's own

    def _sync_gen(self) -> Any:
        """A Sync whose answers are awaited (`conn.transaction()`'s BEGIN and COMMIT, outside
        autocommit): all of the buffer sent first, as psycopg's own loop did (its answers,
        and the server's flush of them, come only after the Sync has arrived)."""
        self._enqueue_sync()
        yield from self._communicate_gen()
        yield from send(self.pgconn)
        yield from self._fetch_gen(flush=False)


# the psycopg internals `LazyPipeline` and `lazy_pipeline` use (written against 3.3.9;
# test_consumer_pipeline checks that the lazy pipeline is the one in use)
_LAZY_OK = all(callable(getattr(cls, name, None)) for cls, name in (
    (psycopg.Pipeline, "_communicate_gen"), (psycopg.Connection, "_check_connection_ok")))


@contextlib.contextmanager
def lazy_pipeline(conn: psycopg.Connection[Any]) -> Any:
    """`conn.pipeline()` with `LazyPipeline`'s sending (psycopg's own pipeline if this
    psycopg lacks the parts it relies on, or one is open already)."""
    if getattr(conn, "_pipeline", ...) is not None or not _LAZY_OK:
        with conn.pipeline() as pipeline:
            yield pipeline
        return
    with conn.lock:
        conn._check_connection_ok()
        pipeline = conn._pipeline = LazyPipeline(conn)
    try:
        with pipeline:
            yield pipeline
    finally:
        with conn.lock:
            conn._pipeline = None

