"""faust's Kafka transport for the surge worker, with fetches that wait for a batch, and a
worker that never turns debug logging on.

faust's aiokafka driver leaves `fetch_min_bytes` at 1: the broker answers a fetch as soon as
one message is there, so at the platform's pace every lifecycle event cost the worker a fetch
round trip of its own (aiokafka's fetcher was the largest part of its CPU, py-spy via
`bench.consumer_cost --service analytics-surges --profile`). A surge is counted in windows of
minutes: a fetch that waits up to `wait_ms` (1.5 s, faust's own idle wait) for `min_bytes`
costs no alert anything.

Messages the worker does not handle never reach faust's streams (`skip`): the consumer acks
them where it reads them. Each message a stream takes costs faust an Event, a delivery
through the conductor and the channel's queue, a `wait_first`, an ack: for the ~16 lifecycle
events of a ticket of which the worker handles 6, that per-event machinery was most of its
CPU (py-spy: asyncio 36 %, faust 27 %, its own code 3 %). Acks stay in offset order per
partition, so the committed offset never passes a handled message still in a stream: a
skipped message right after one that is not acked yet is acked once that one is (looked at
as each fetch is handed over: at least once a second), else at once.

A table row is written to its changelog once per commit, not once per event
(`CoalescingTable`): a ticket's row changes at its submission, acceptance and assignment within
moments, and faust sent each change as a changelog message of its own (a produce, a sensor
round, a future and its callback each: the largest part of the worker's producing). The rows a
stage changed wait in memory; the consumer sends the last value of each just before it commits
offsets, straight into aiokafka's accumulator (awaited: not through faust's producer buffer,
whose flush gives up after 0.1 s without progress and would let the commit pass messages
still in it), and faust's commit waits for the producer's flush before it commits, so a
committed offset never passes a change not yet in its changelog. A row made and dropped again within one commit (a ticket submitted and closed
within it) never reaches the changelog.

Each message handed to a stream is delivered (faust's `_drain_messages`) by racing the
delivery with a flow suspension in `wait_first`: four tasks (the delivery, the suspension, the
service's stop and crash) and an `asyncio.wait` per message, a tenth of the worker's CPU,
though a delivery nearly always completes at once (the stream's queue has room, the flow is
not suspended). `wait_first` now runs the delivery in place first; only one that has to wait
is raced as before, from where it stopped (`_Resumed`), so a suspension still interrupts it.

faust builds an ASCII table of every commit's offsets (terminaltables, ~48 partitions) for a
debug line that is dropped unless dev logging is on: 4 % of the worker's CPU. The consumer
module's `terminal` is `LazyTerminal` here, whose table is built only if the line is written.

faust's worker, at a log level of WARNING or above, sets the root logger to DEBUG to spin a
terminal spinner on every record (faust/worker.py `_setup_spinner_handler`): every debug line
of aiokafka was then built and dropped, a quarter of the worker's CPU. `QuietWorker` has no
spinner (nobody watches a service's terminal), so the level asked for is the level used.

An idle worker's housekeeping wakes every `IDLE_ROUND_S` (5 s), not every second: faust's drain
loop asks the consumer thread for records with a 1 s timeout (a round across the thread's method
queue, ~30 % of the idle worker's event-loop time), mode's ServiceThread keeps both loops awake
with a 1 s and a 1.1 s timer, and faust's Monitor samples its rates every second. A longer
`getmany` wait ends as soon as records come, so only idle rounds are fewer; its costs: skipped
messages behind the last handled one are acked (and then committed) up to 5 s later once the
stream falls silent, and the first fetch after a rebalance may wait out the round in flight.
faust's livelock check (it only logs) walks the ~50 partitions in one pass instead of yielding
to the loop after each. Idle, measured alone (`asyncio` callbacks timed, 40 s): 478 -> 144 ms;
CPU from /proc, 3 pairs on a quiet host: 1.43/2.57, 1.23/1.70, 0.93/1.42 % of a core.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from time import monotonic
from typing import Any

import faust
from aiokafka.producer.message_accumulator import MessageAccumulator
from faust.sensors import Monitor
from faust.streams import current_event
from faust.transport import consumer as faust_consumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from faust.utils import terminal
from mode import Service
from mode.services import WaitResults

from backbone import logs

# How often the idle worker's housekeeping wakes (seconds): the consumer thread's keepalives
# (mode's ServiceThread: 1 s and 1.1 s) and faust's drain round (1 s), see the module docstring
IDLE_ROUND_S = 5.0


def patient_transport(min_bytes: int, wait_ms: int, idle_wait_ms: int = 5000,
                      idle_round_ms: int = 2000, skip: Callable[[Any], bool] | None = None
                      ) -> type[driver.Transport]:
    """The aiokafka transport whose consumer's fetches wait for `min_bytes` or `wait_ms` while
    events flow, and long-poll (`idle_wait_ms`, answered as soon as an event comes) once a poll
    found nothing: gathering while idle was an empty fetch every `wait_ms` (0.33 -> 0.65 % of a
    core idle). `idle_round_ms`: the fetcher's own round (aiokafka's 200 ms woke it five times
    a second); as backbone.kafka.quiet_options does for the platform's other consumers.
    `skip(message)`: messages no agent handles, acked unread (module docstring)."""

    class PatientThread(driver.AIOKafkaConsumerThread):
        _gathering = False

        # mode's keepalives, every IDLE_ROUND_S instead of every second: the thread's loop
        # woken by a timer of its own, and the parent's by one from the thread (its warning
        # when the thread stops answering: after three rounds, as mode's 3 s after 1.1 s)
        @Service.task
        async def _thread_keepalive(self) -> None:
            async for _ in self.itertimer(IDLE_ROUND_S, name=f"_thread_keepalive-{self.label}"):
                pass

        async def _keepalive2(self) -> None:
            while not self.should_stop:
                await self.sleep(IDLE_ROUND_S)
                if self.last_wakeup_at and monotonic() - self.last_wakeup_at > 3 * IDLE_ROUND_S:
                    self.log.error("Thread keepalive is not responding...")
                await self._wakeup_timer_in_thread()

        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # read by AIOKafkaConsumer.start() when it makes its fetcher: quiet until events flow
            consumer._fetch_min_bytes = 1
            consumer._fetch_max_wait_ms = idle_wait_ms
            consumer._consumer_timeout = idle_round_ms / 1000
            self._gathering = False
            return consumer

        async def _fetch_records(self, consumer: Any, active_partitions: Any,
                                 timeout: float | None = None,
                                 max_records: int | None = None) -> Any:
            records = await super()._fetch_records(consumer, active_partitions,
                                                   timeout=timeout, max_records=max_records)
            flowing = bool(records)
            if flowing != self._gathering:  # the fetcher builds each request from these
                fetcher = consumer._fetcher
                fetcher._fetch_min_bytes = min_bytes if flowing else 1
                fetcher._fetch_max_wait_ms = wait_ms if flowing else idle_wait_ms
                self._gathering = flowing
            return records

    class PatientConsumer(driver.Consumer):
        _generation = -1

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            faust_consumer.terminal = LazyTerminal  # type: ignore[assignment]
            self._last: dict[TP, Any] = {}  # each partition's last message given to streams
            # per partition, in offset order: (a message given to the streams, the skipped
            # messages right after it), acked once it is (faust's stream acks in its Cython
            # iterator, which no override of `ack` sees: hence a look at each fetch)
            self._waiting: dict[TP, deque[tuple[Any, list[Any]]]] = {}

        def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
            return PatientThread(self, loop=self.loop, beacon=self.beacon)

        async def wait_first(self, *coros: Any, timeout: Any = None) -> WaitResults:
            # faust's _drain_messages: wait_first(delivery, self.suspend_flow.wait())
            if (timeout is None and len(coros) == 2 and inspect.iscoroutine(coros[0])
                    and not self.suspend_flow.is_set() and not self.should_stop):
                delivery, flow = coros
                done, value = in_place(delivery)
                if done:
                    if inspect.iscoroutine(flow):
                        flow.close()  # never awaited
                    return WaitResults([delivery], [value], False)
                coros = (value, flow)
            return await super().wait_first(*coros, timeout=timeout)

        async def _commit_offsets(self, offsets: Mapping[TP, int],
                                  start_new_transaction: bool = True) -> bool:
            # the tables' changed rows first: faust's commit flushes the producer, then commits
            await send_table_changes(self.app.tables.values())
            return await super()._commit_offsets(offsets, start_new_transaction)

        def _ack_after_acked(self, tp: TP) -> bool:
            """Ack the skipped messages whose predecessor the streams acked; whether none
            wait any more in `tp`."""
            waiting = self._waiting.get(tp)
            while waiting and waiting[0][0].acked:
                for skipped in waiting.popleft()[1]:
                    self.ack(skipped)
            return not waiting

        @Service.task
        async def _commit_livelock_detector(self) -> None:
            """faust's check that every assigned partition still moves (it only logs), in one
            pass: faust's own yields to the loop after each of the ~50 partitions, ~150 loop
            rounds every 7 s of an idle worker."""
            interval = self.commit_interval * 2.5
            await self.sleep(interval)
            async for _ in self.itertimer(interval, name="livelock"):
                if not self.app.rebalancing:
                    now = monotonic()
                    for tp in self.assignment():
                        if self.should_stop:
                            break
                        self.verify_event_path(now, tp)

        async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
            # faust's drain loop asks with a 1 s timeout; a wait that long or longer ends as
            # soon as records come, so only an idle worker's rounds are fewer
            timeout = max(timeout, IDLE_ROUND_S)
            if skip is None:
                async for item in super().getmany(timeout):
                    yield item
                return
            if self._generation != self.app.consumer_generation_id:  # a rebalance: anew
                self._generation = self.app.consumer_generation_id
                self._last, self._waiting = {}, {}
            for tp in [tp for tp in self._waiting if self._ack_after_acked(tp)]:
                del self._waiting[tp]
            read = self._read_offset
            async for tp, message in super().getmany(timeout):
                if not skip(message):
                    self._last[tp] = message
                    yield tp, message
                    continue
                read[tp] = message.offset  # read: no gap for faust to fill before the next
                last = self._last.get(tp)
                if self._ack_after_acked(tp) and (last is None or last.acked):
                    self.ack(message)
                    continue
                waiting = self._waiting.setdefault(tp, deque())
                if waiting and waiting[-1][0] is last:
                    waiting[-1][1].append(message)
                else:
                    waiting.append((last, [message]))

    class PatientTransport(driver.Transport):
        Consumer = PatientConsumer
        Producer = LingeringProducer

    return PatientTransport


class LazyTable:
    """faust's `terminal.logtable(...)`, built when the log line is formatted."""

    __slots__ = ("args", "kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __str__(self) -> str:
        return terminal.logtable(*self.args, **self.kwargs)


class LazyTerminal:
    """What faust's consumer module calls `terminal` (only its `logtable` is used there)."""

    logtable = LazyTable


def in_place(coro: Any) -> tuple[bool, Any]:
    """Run `coro` until it first waits: (True, its result) if it never did, else (False, a
    coroutine that finishes it from there). Its exceptions propagate."""
    try:
        yielded = coro.send(None)
    except StopIteration as done:
        return True, done.value
    return False, _finish(coro, yielded)


async def _finish(coro: Any, yielded: Any) -> Any:
    return await _Resumed(coro, yielded)


class _Resumed:
    """The rest of a coroutine that has yielded `yielded` (what `yield from` would do)."""

    def __init__(self, coro: Any, yielded: Any) -> None:
        self.coro, self.yielded = coro, yielded

    def __await__(self) -> Any:
        coro, yielded = self.coro, self.yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, thrown into the coroutine
                try:
                    yielded = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as done:
                    return done.value


DELETED = object()


class TableChanges:
    """The rows of one table changed since its changelog was last written: the last value of
    each (or DELETED), its changelog partition, whether the changelog may hold an older value
    (the row existed before its first change here: restored from the changelog or written at
    an earlier commit), and the input partitions whose events changed it."""

    def __init__(self) -> None:
        self._rows: dict[Any, list[Any]] = {}  # key -> [partition, value, logged, sources]

    def __len__(self) -> int:
        return len(self._rows)

    def note(self, key: Any, partition: int, value: Any, existed: bool, source: Any) -> None:
        row = self._rows.get(key)
        if row is None:
            self._rows[key] = [partition, value, existed, {source}]
        else:
            row[0], row[1] = partition, value
            row[3].add(source)

    def drain(self) -> list[tuple[int, Any, Any]]:
        """(partition, key, value or DELETED) of each changed row, in the order first changed;
        a row deleted that the changelog never held is left out."""
        out = [(partition, key, value) for key, (partition, value, logged, _) in self._rows.items()
               if logged or value is not DELETED]
        self._rows = {}
        return out

    def forget(self, revoked: Iterable[Any]) -> None:
        """Rows changed by events of revoked input partitions: their offsets were not
        committed (faust commits before a revocation completes), so whoever takes those
        partitions reads the events again from the changelog's older state."""
        gone = set(revoked)
        self._rows = {k: row for k, row in self._rows.items() if not row[3] & gone}


class CoalescingTable(faust.Table):
    """A faust table whose changes reach the changelog when offsets are committed, one message
    per changed row (module docstring), instead of one per change as it happens."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.use_partitioner:  # a row is sent to its event's partition, which this names
            raise ValueError("a CoalescingTable keeps a row in its event's partition:"
                             " use_partitioner is not supported")
        self.changes = TableChanges()

    def on_key_set(self, key: Any, value: Any) -> None:
        partition = self.partition_for_key(key)  # the current event's (faust's own checks)
        assert partition is not None  # None only with use_partitioner (refused in __init__)
        self.changes.note(key, partition, value, key in self.data, _source())
        self._maybe_set_key_ttl(key, partition)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        partition = self.partition_for_key(key)
        assert partition is not None  # as in on_key_set
        self.changes.note(key, partition, DELETED, key in self.data, _source())
        self._maybe_del_key_ttl(key, partition)
        self._sensor_on_del(self, key)

    async def send_changes(self) -> int:
        """Send each changed row's last value to the changelog; how many. Each is in the
        producer's accumulator when this returns (the commit's flush waits for those)."""
        sent = self.changes.drain()
        topic = self.changelog_topic
        for partition, key, value in sent:
            if value is DELETED:
                await topic.send(key=key, value=None, partition=partition, force=True,
                                 key_serializer=self.key_serializer, value_serializer="raw",
                                 callback=self._on_changelog_sent)
            else:
                await topic.send(key=key, value=value, partition=partition, force=True,
                                 key_serializer=self.key_serializer,
                                 value_serializer=self.value_serializer,
                                 callback=self._on_changelog_sent)
        return len(sent)

    async def on_rebalance(self, assigned: Any, revoked: Any, newly_assigned: Any,
                           generation_id: int = 0) -> None:
        self.changes.forget(revoked)
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)


def _source() -> Any:
    event = current_event()
    return event.message.tp if event is not None else None


async def send_table_changes(tables: Iterable[Any]) -> int:
    return sum([await table.send_changes() for table in tables
                if isinstance(table, CoalescingTable)])


class NodeAccumulator(MessageAccumulator):
    """aiokafka's accumulator, except that a request to a broker takes every partition's
    batch for it once one of them is due (as Kafka's Java producer drains a ready node).

    aiokafka lingers per partition: each batch is sent when its own linger runs out, so the
    worker's writes to ~36 partitions (two tables' changelogs, its two topics) went out in
    nearly as many produce requests however long the linger. Batches are still sent in order
    per partition, each at most its linger late."""

    def drain_by_nodes(self, ignore_nodes: Any, muted_partitions: Any = frozenset()) -> Any:
        nodes, unknown_leaders = super().drain_by_nodes(ignore_nodes, muted_partitions)
        if nodes:
            for tp in list(self._batches):
                if tp in muted_partitions:
                    continue
                leader = self._cluster.leader_for_partition(tp)
                if leader in nodes and tp not in nodes[leader]:
                    batch = self._pop_batch(tp)
                    if batch.is_empty():
                        batch.done_noack()
                    else:
                        nodes[leader][tp] = batch
        return nodes, unknown_leaders


class LingeringProducer(driver.Producer):
    """faust's aiokafka producer with `NodeAccumulator`."""

    def _new_producer(self, transactional_id: str | None = None) -> Any:
        producer = super()._new_producer(transactional_id)
        producer._message_accumulator.__class__ = NodeAccumulator
        return producer


class QuietWorker(faust.Worker):
    """No spinner, no banner: its log is JSON lines like every service's (docs/operations.md,
    `make logs`), where faust wrote a banner table and lines of its own format."""

    PROCESS = "analytics-surges"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None
        self.quiet = True  # (faust's banner and progress go to stdout bare, not as log lines)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        logs.configure(self.PROCESS, level or logging.INFO)


class QuietMonitor(Monitor):
    """faust's sensor, its rates (events/s, messages/s, for faust's own web views; the worker's
    /metrics are Prometheus counters) sampled every IDLE_ROUND_S instead of every second."""

    @Service.task
    async def _sampler(self) -> None:
        events, messages = self.events_total, self.messages_received_total
        async for _ in self.itertimer(IDLE_ROUND_S, name="Monitor.sampler"):
            events, messages = self._sample(events, messages)


class SurgeApp(faust.App):
    """A faust App on `transport` (a class from `patient_transport`) with `QuietWorker`,
    `CoalescingTable`s and `QuietMonitor`."""

    def __init__(self, *args: Any, transport: type[driver.Transport], **kwargs: Any) -> None:
        self._transport_class = transport
        super().__init__(*args, Worker=QuietWorker, Table=CoalescingTable,
                         Monitor=QuietMonitor, **kwargs)

    def _new_transport(self) -> Any:
        return self._transport_class(self.conf.broker_consumer, self)
