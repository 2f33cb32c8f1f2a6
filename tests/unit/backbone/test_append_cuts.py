"""Session 20's cuts of an append's CPU, each doing what it did: a committed batch's callers
answered (`_settle_committed`: each sync caller's future at once, each event loop's futures in
one call on that loop, a future its caller gave up on left alone, the watchdog's entries
forgotten); `key_hashes` without `key_hash`'s memory; `envelope_made`, make_envelope's message
and the time's microseconds that the record's header says."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import Future
from typing import Any

from backbone.group_commit import _settle_committed, _watchdog
from backbone.key_hashes import _HASHES, key_hashes, murmur2
from backbone.store import EventContext


def _command(done: Any, loop: asyncio.AbstractEventLoop | None) -> Any:
    return ((), EventContext(), done, (), loop)


def test_sync_and_async_callers_of_two_loops_are_answered_and_a_gone_caller_left_alone():
    loops: list[asyncio.AbstractEventLoop] = []
    ready = threading.Barrier(3)
    futures: dict[int, list[asyncio.Future[None]]] = {}
    results: dict[int, list[Any]] = {}

    def run(i: int) -> None:
        loop = asyncio.new_event_loop()
        loops.append(loop)

        async def wait() -> None:
            mine = futures[i] = [loop.create_future() for _ in range(5)]
            dog = _watchdog(loop)
            for f in mine:
                dog.waiting[f] = time.monotonic() + 30
            mine[2].cancel()  # its caller gave up
            ready.wait(5)
            results[i] = await asyncio.gather(*mine, return_exceptions=True)
            results[i].append(len(dog.waiting))

        loop.run_until_complete(wait())
        loop.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    ready.wait(5)
    sync = [Future() for _ in range(3)]
    # commands of the two loops interleaved, sync callers among them
    batch = []
    for k in range(5):
        batch.append(_command(futures[0][k], futures[0][k].get_loop()))
        batch.append(_command(futures[1][k], futures[1][k].get_loop()))
        if k < 3:
            batch.append(_command(sync[k], None))
    _settle_committed(batch)
    for t in threads:
        t.join(5)
    assert [f.result(0) for f in sync] == [None, None, None]
    for i in range(2):
        got = results[i]
        assert got[:2] == [None, None] and got[3:5] == [None, None]
        assert isinstance(got[2], asyncio.CancelledError)
        assert got[5] == 0  # every watchdog entry forgotten


def test_a_closed_loop_is_skipped():
    loop = asyncio.new_event_loop()
    done = loop.create_future()
    loop.close()
    sync: Future[None] = Future()
    _settle_committed([_command(done, loop), _command(sync, None)])
    assert sync.result(0) is None and not done.done()


def test_key_hashes_neither_reads_nor_fills_the_memory():
    _HASHES.clear()
    keys = [str(uuid.uuid4()).encode() for _ in range(50)] + [b"a", b"bc", b"a"]
    keys += keys[:10]
    assert key_hashes(keys) == [murmur2(k) for k in keys]
    assert not _HASHES
    _HASHES[keys[0]] = 12345  # a wrong remembered value is not used
    assert key_hashes(keys[:1]) == [murmur2(keys[0])]
    _HASHES.clear()



def test_envelope_made_is_make_envelope_and_its_microseconds_the_timestamps():
    from datetime import UTC, datetime, timedelta, timezone

    from minsheng.v1 import intake_events_pb2

    from backbone.events import envelope_made, make_envelope

    payload = intake_events_pb2.TicketAccepted(flags=["no_location"])
    for when in (datetime(2026, 12, 7, 13, 5, 43, 123456, tzinfo=UTC),
                 datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                 datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                         tzinfo=UTC),
                 datetime(2020, 2, 29, 12, 0, 0, 1),  # naive: local time
                 datetime(2021, 3, 1, 8, tzinfo=timezone(timedelta(hours=8)))):
        args = (payload, "e" * 36, "t", "", "intake", when, "c", "")
        env, micros = envelope_made(*args)
        assert micros == env.occurred_at.ToMicroseconds()
        assert env.SerializeToString() == make_envelope(
            payload=payload, event_id="e" * 36, ticket_id="t", ticket_code="",
            producer="intake", occurred_at=when, causation_id="c").SerializeToString()
