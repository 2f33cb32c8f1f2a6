"""The surge worker's consumer acks the lifecycle messages no stage handles where it reads
them, never ahead of a handled message still in a stream (so a commit never passes one)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from services.analytics.adapters import surge_transport


class Message:
    def __init__(self, offset: int, handled: bool, tp: str = "tickets.events-0"):
        self.tp, self.offset, self.handled, self.acked = tp, offset, handled, False


def consumer(monkeypatch, batches: list[list[Message]]):  # type: ignore[no-untyped-def]
    transport = surge_transport.patient_transport(1, 1, skip=lambda m: not m.handled)

    async def fetched(self, timeout):  # type: ignore[no-untyped-def]
        for m in batches.pop(0) if batches else []:
            yield m.tp, m

    monkeypatch.setattr(surge_transport.driver.Consumer, "getmany", fetched)
    c = object.__new__(transport.Consumer)  # no faust app: only what getmany touches
    c._last, c._waiting, c._read_offset = {}, {}, {}
    c.app = SimpleNamespace(consumer_generation_id=1)
    c.acks = []

    def ack(m: Message) -> bool:
        m.acked = True
        c.acks.append(m.offset)
        return True

    c.ack = ack
    return c


def given(c) -> list[int]:  # type: ignore[no-untyped-def]
    async def drain() -> list[int]:
        return [m.offset async for _, m in c.getmany(1.0)]
    return asyncio.run(drain())


def test_skipped_messages_wait_for_the_handled_one_before_them(monkeypatch):
    m = [Message(0, False), Message(1, True), Message(2, False), Message(3, False),
         Message(4, True), Message(5, False)]
    c = consumer(monkeypatch, [m, [], [], []])
    assert given(c) == [1, 4]  # only the handled ones reach the streams
    assert c.acks == [0]  # nothing handled before it: acked at once
    assert c._read_offset["tickets.events-0"] == 5  # read: faust sees no gap to fill
    given(c)
    assert c.acks == [0]  # 1 still in a stream: 2 and 3 wait
    m[1].acked = True
    given(c)
    assert c.acks == [0, 2, 3]  # 5 waits for 4
    m[4].acked = True
    given(c)
    assert c.acks == [0, 2, 3, 5]


def test_a_skipped_message_after_an_acked_one_is_acked_at_once(monkeypatch):
    first, later = [Message(0, True)], [Message(1, False), Message(2, False)]
    c = consumer(monkeypatch, [first, later])
    given(c)
    first[0].acked = True
    given(c)
    assert c.acks == [1, 2]


def test_a_rebalance_forgets_what_waited(monkeypatch):
    """faust seeks to the committed offsets after a rebalance: what waited is read again."""
    m = [Message(0, True), Message(1, False)]
    c = consumer(monkeypatch, [m, []])
    given(c)
    c.app.consumer_generation_id = 2
    m[0].acked = True
    given(c)
    assert c.acks == [] and c._waiting == {}


class Cluster:
    """Partitions 0-2 led by broker 1, partition 3 by broker 2."""

    def leader_for_partition(self, tp):  # type: ignore[no-untyped-def]
        return 2 if tp.partition == 3 else 1


def test_a_due_batch_takes_every_batch_of_its_broker_along():
    from aiokafka.structs import TopicPartition

    async def run() -> tuple[dict, dict]:
        acc = surge_transport.NodeAccumulator(Cluster(), 16384, 0, 1000,
                                              linger_ms=60_000)
        tps = [TopicPartition("t", p) for p in range(4)]
        for tp in tps:
            await acc.add_message(tp, b"k", b"v", timeout=1, timestamp_ms=1)
        before = acc.drain_by_nodes(ignore_nodes=set())[0]  # every batch still lingers
        acc._batches[tps[1]][0]._ctime -= 61  # partition 1's linger has run out
        return before, acc.drain_by_nodes(ignore_nodes=set())[0]

    before, after = asyncio.run(run())
    assert before == {}
    # broker 1's request takes partitions 0-2 (one was due); broker 2's batch lingers on
    assert set(after) == {1} and sorted(tp.partition for tp in after[1]) == [0, 1, 2]


def test_a_rows_changes_reach_its_changelog_once_per_commit_with_its_last_value():
    changes = surge_transport.TableChanges()
    changes.note("t1", 3, {"county": "a"}, existed=False, source="src-3")
    changes.note("t1", 3, {"county": "a", "accepted_at": "x"}, existed=True, source="src-3")
    changes.note("t2", 5, {"county": "b"}, existed=True, source="src-5")
    changes.note("t2", 5, surge_transport.DELETED, existed=False, source="src-5")
    assert changes.drain() == [(3, "t1", {"county": "a", "accepted_at": "x"}),
                               (5, "t2", surge_transport.DELETED)]  # t2 was in the changelog
    assert changes.drain() == []


def test_a_row_made_and_dropped_within_one_commit_never_reaches_the_changelog():
    changes = surge_transport.TableChanges()
    changes.note("t1", 3, {"county": "a"}, existed=False, source="src-3")
    changes.note("t1", 3, surge_transport.DELETED, existed=True, source="src-3")
    assert changes.drain() == []


def test_changes_from_revoked_partitions_are_forgotten():
    """Their offsets were not committed: the partitions' next owner reads the events again."""
    changes = surge_transport.TableChanges()
    changes.note("t1", 3, {"n": 1}, existed=False, source="lifecycle-3")
    changes.note("t1", 3, {"n": 2}, existed=True, source="follow-3")
    changes.note("t2", 4, {"n": 1}, existed=False, source="lifecycle-4")
    changes.forget({"follow-3"})
    assert changes.drain() == [(4, "t2", {"n": 1})]


def test_a_delivery_that_never_waits_completes_in_place():
    async def delivery() -> str:  # the stream's queue has room: no wait
        return "delivered"

    coro = delivery()
    assert surge_transport.in_place(coro) == (True, "delivered")


def test_a_delivery_that_waits_finishes_from_where_it_stopped_or_is_cancelled():
    async def run() -> tuple[list[str], list[str]]:
        seen: list[str] = []
        room = asyncio.get_running_loop().create_future()

        async def delivery(name: str) -> str:
            seen.append(f"{name} started")
            await room  # the stream's queue is full
            seen.append(f"{name} put")
            return name

        done, rest = surge_transport.in_place(delivery("a"))
        assert not done and seen == ["a started"]
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        room.set_result(None)
        assert await task == "a" and seen == ["a started", "a put"]

        room = asyncio.get_running_loop().create_future()
        cancelled: list[str] = []
        done, rest = surge_transport.in_place(delivery("b"))
        task = asyncio.ensure_future(rest)
        await asyncio.sleep(0)
        task.cancel()  # a flow suspension won the race
        try:
            await task
        except asyncio.CancelledError:
            cancelled.append("b")
        return seen, cancelled

    seen, cancelled = asyncio.run(run())
    assert "b put" not in seen and cancelled == ["b"]


def test_the_commit_offsets_table_is_built_only_when_logged():
    table = surge_transport.LazyTerminal.logtable([("t-0", "5")], title="Commit Offsets",
                                                  headers=["TP", "Offset"])
    assert "Commit Offsets" in str(table) and "t-0" in str(table)
