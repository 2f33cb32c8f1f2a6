"""Group commit: concurrent commands share one PostgreSQL transaction.

One commit per command tops out near 650/s on this 2-core box (the commit waits for fsync);
batching makes hundreds of requests a second cheap without relaxing durability. A caller's
`save` returns only after the transaction holding its events has committed. If a batch fails
(say one command's aggregate already exists), every command in it is retried alone, so one
bad command never fails the others.

Per command the costs are kept to a few objects: an async caller waits on a plain asyncio
future that the committer settles together with the rest of its batch (one thread-safe call
per batch and loop, not one per command), and the aggregates' events are collected without
eventsourcing's `isinstance` checks against runtime Protocols (half of `Application.save`'s
own time on Python 3.11) when the application keeps eventsourcing's own `save`.

A large batch is made and sent in parts (PART_EVENTS events: their stored events and the
relay's messages), one INSERT a part in the batch's one transaction: PostgreSQL inserts a
part while this thread makes the next, so the committer waits only for the last part and
COMMIT. Still one transaction, one lock, one commit a batch (two batches in flight, tried in
sessions 6-9, split the callers over more transactions and cost more than they won).

While a batch in parts commits (its COMMIT sent, PostgreSQL inserting the last part and
waiting for the fsync, every caller in this process waiting), the committer takes what is
queued and makes it as the next batch's first part (`_take_ahead`); that batch still gathers
up to max_batch after it, and its remaining parts end with a small one (`rest_sizes`). The
wait at the end of a batch fell by about half and appends/s rose ~11 % (session 19; session
10's try of this left the next batch's rest as one large last part: docs/profiles/write-paths.md).

The cyclic garbage collector is paused while a batch is made and committed (`_commit`): a
batch's objects are freed by their reference counts when it ends, and collections in the
middle of one walked them for nothing (10-15 % of the store's CPU, session 15).
"""

from __future__ import annotations

import asyncio
import gc
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from functools import partial
from operator import is_, itemgetter
from time import monotonic as _monotonic
from typing import Any

from eventsourcing.application import Application, ProcessingEvent
from prometheus_client import Histogram

from backbone.store import EventContext, Part, Statement

BATCH_SIZE = Histogram("minsheng_group_commit_batch_size", "Commands per transaction",
                       ["service"], buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))
# A batch of more than this many events is made (stored events, the relay's messages) and
# sent in parts (`part_sizes`: three, the last the smallest), one INSERT each in the batch's
# one transaction, so that PostgreSQL inserts a part while the committer makes the next; only
# the last part and COMMIT are then waited for. Smaller parts cost the committer more than
# they save (an INSERT, a cursor and an encoding call each: parts of 64 took ~10 % more of its
# CPU an append, measured in session 10), and a batch of up to 150 events, the usual one in
# the services, is one INSERT as before.
PART_EVENTS = 150


# A command: (its aggregates, its context, the future its caller waits on, its statements,
# the caller's event loop, set for an async caller's future, else None). A plain tuple: one is
# made a command saved, on the caller's event loop (a dataclass's __init__ cost 3x as much)
_Command = tuple[Sequence[Any], EventContext, "Future[None] | asyncio.Future[None]",
                 Sequence[Statement], "asyncio.AbstractEventLoop | None"]


class GroupCommitter:
    def __init__(self, app: Application, *, service: str, max_batch: int = 200,
                 max_wait_s: float = 0.002):
        self.app = app
        self.service = service
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._batch_size = BATCH_SIZE.labels(service)  # the labelled child, looked up once
        # set by an OutboxRelay that publishes at commit (OutboxRelay(committer=...)): the
        # messages of one stored event, encoded, or None to leave it to the relay
        # (each event with its command's context, in order -> their messages, encoded, or
        # None to leave one to the relay; one call per batch)
        self.outbox: Callable[[list[tuple[Any, EventContext]]], list[bytes | None]] | None = None
        self._stock = _stock_save(app)
        # SimpleQueue: put and get in C (queue.Queue takes a Python lock and condition per put)
        self._queue: queue.SimpleQueue[_Command | None] = queue.SimpleQueue()
        # commands taken while the last batch's COMMIT was in flight (`_take_ahead`): the next
        # batch starts with them; their part, if it was made then, and the (event, context)
        # pairs it was made of
        self._ahead: tuple[list[_Command], Part | None, list[Any]] | None = None
        self._stopping = False  # close() was seen: commit what was taken, then return
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def save(self, *aggregates: Any, context: EventContext, timeout: float = 30,
             sql: list[Statement] | None = None) -> None:
        """Save the aggregates' new events, and run `sql` (read-model statements, see
        backbone.store.TrackedRecorder) in the same transaction; blocks until committed (or
        raises its error). In a failed batch each command is retried alone with its own
        statements, so one command's refused statement never fails the others."""
        done: Future[None] = Future()
        self._queue.put((aggregates, context, done, list(sql or ()), None))
        done.result(timeout=timeout)

    async def save_async(self, *aggregates: Any, context: EventContext, timeout: float = 30,
                         sql: list[Statement] | None = None) -> None:
        """`save` for an async caller: the event loop waits for the commit without a thread
        of its own (an async endpoint then needs no threadpool hop to save)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        dog = _watchdogs.get(loop) or _watchdog(loop)
        dog.waiting[done] = _monotonic() + timeout  # watched (see _Watchdog)
        if not dog.ticking:
            dog.start()
        self._queue.put((aggregates, context, done, list(sql) if sql else (), loop))
        # a caller that gives up (timeout, client gone) leaves its future done, and the
        # committer then leaves it alone; the command itself may still commit
        await done

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            ahead, self._ahead = self._ahead, None
            if ahead is not None:  # taken while the last batch committed
                batch = list(ahead[0])
            elif self._stopping:
                return
            else:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
            if not self._stopping:
                self._stopping = self._gather(batch)
            self._commit(batch, ahead)

    def _gather(self, batch: list[_Command]) -> bool:
        """Add what is queued or comes within max_wait_s of the last command, up to
        max_batch; whether close() was seen meanwhile."""
        try:
            while len(batch) < self.max_batch:
                try:  # what is already queued, without a timed wait per command
                    item = self._queue.get_nowait()
                except queue.Empty:
                    item = self._queue.get(timeout=self.max_wait_s)
                if item is None:
                    return True
                batch.append(item)
        except queue.Empty:
            pass
        return False

    def _commit(self, batch: list[_Command],
                ahead: tuple[list[_Command], Part | None, list[Any]] | None = None) -> None:
        """Commit a batch with the cyclic garbage collector paused, and resumed as soon as
        the batch is done (if it was running: an application that paused it keeps it paused).
        A batch makes ~15 tracked objects an append (stored events, states, envelopes,
        messages, parts), nearly all freed by their counts when it ends; with the collector
        on, the allocation count crossed its threshold about once a batch, so each young
        collection walked a batch in flight, moved it to the older generations, and those
        filled until a full collection walked every object of the process: 3-7 us of CPU an
        append in bench.backbone_rates (109-124 collections per 20,000 appends, one of them
        full), 10-15 % of the store's CPU (docs/profiles/write-paths.md, session 15). Paused,
        the count falls back as the batch is freed, and the collections left (5-10 per
        20,000) run between batches, on whichever thread allocates first; the committer's
        own next batch list is one such allocation, so the collector is never starved. The
        pause is process-wide: for a batch's duration (a few ms; up to the recorder's
        retries, ~2 s, while PostgreSQL is unreachable) cyclic garbage made by other threads
        waits too; nothing else changes (reference counting frees everything else as
        before)."""
        if not gc.isenabled():
            self._commit_batch(batch, ahead)
            return
        gc.disable()
        try:
            self._commit_batch(batch, ahead)
        finally:
            gc.enable()

    def _commit_batch(self, batch: list[_Command],
                      ahead: tuple[list[_Command], Part | None, list[Any]] | None = None
                      ) -> None:
        self._batch_size.observe(len(batch))
        if len(batch) > 1:
            # each aggregate's context (the save's `contexts`), which also tells whether an
            # aggregate is in two commands (then each command is saved alone)
            contexts: dict[Any, EventContext] = {}
            count = 0
            for c in batch:
                context = c[1]
                for a in c[0]:
                    contexts[a.id] = context
                count += len(c[0])
            if len(contexts) == count:
                # the service's own save empties the aggregates' pending lists
                # (collect_events), so keep them for a retry; the stock path empties them
                # only once committed (or after a command's last try, as eventsourcing's
                # save would)
                pending = (None if self._stock else
                           {a.id: list(a.pending_events) for c in batch for a in c[0]})
                try:  # failed: each command is tried alone
                    self._save(batch, last_try=False, contexts=contexts, ahead=ahead,
                               take_ahead=True)
                except Exception:
                    if pending is not None:
                        for c in batch:
                            for a in c[0]:
                                a.pending_events[:] = pending[a.id]
                else:
                    _settle_committed(batch)
                    return
        outcomes: list[tuple[_Command, BaseException | None]] = []
        for c in batch:
            try:
                self._save([c])
            except Exception as exc:
                outcomes.append((c, exc))
            else:
                outcomes.append((c, None))
        _settle(outcomes)

    def _save(self, batch: list[_Command], *, last_try: bool = True,
              contexts: dict[Any, EventContext] | None = None,
              ahead: tuple[list[_Command], Part | None, list[Any]] | None = None,
              take_ahead: bool = False) -> None:
        if contexts is None:
            contexts = {}
            for c in batch:
                context = c[1]
                for a in c[0]:
                    contexts[a.id] = context
        statements = [s for c in batch for s in c[3]]
        extra: dict[str, Any] = {"sql": statements} if statements else {}
        app: Any = self.app
        if not self._stock:  # the service's own save decides
            aggregates = [a for c in batch for a in c[0]]
            if self.outbox is not None:  # the relay's messages, made here, stored with the events
                pending = [(e, c[1]) for c in batch for a in c[0] for e in a.pending_events]
                extra["outgoing"] = {(e.originator_id, e.originator_version): data
                                     for (e, _), data in zip(pending, self.outbox(pending),
                                                             strict=True)
                                     if data is not None}
            self.app.save(*aggregates, contexts=contexts, **extra)
            return
        # Application.save without ProcessingEvent.collect_events' isinstance checks against
        # runtime Protocols: what this committer is given is always aggregates. The pending
        # events are read, and emptied once committed (collect_events empties them first,
        # and a failed batch had to copy them all back for its retry)
        # One pass over the commands: each aggregate's pending events read once, each with its
        # command's context (what the parts are made of); the aggregates by id only where the
        # repository's cache or snapshots read them
        processing = ProcessingEvent[Any]()
        taken, aggregates = [], []
        events_ = processing.events
        pending = []
        for c in batch:
            context = c[1]
            for a in c[0]:
                got = a.pending_events
                taken.append(len(got))
                events_.extend(got)
                for e in got:
                    pending.append((e, context))
                aggregates.append(a)
        repository = app.repository
        cached = repository.cache and not repository.fastforward
        if cached or app.snapshots or type(app)._take_snapshots is not _TAKE_SNAPSHOTS:
            for a in aggregates:
                processing.aggregates[a.id] = a
        processing.saved_kwargs.update(contexts=contexts, **extra)
        # Application._record without EventStore.put's Recording and Notification per event:
        # only Application._notify reads them, and the stock one does nothing
        store = app.events
        recorder = store.recorder
        committed = False
        try:
            if getattr(recorder, "_binary", False):
                # made part by part while PostgreSQL inserts the parts sent before (one
                # transaction: see TrackedRecorder.insert_parts)
                # a large batch (in parts: the committer is busy): while its COMMIT is in
                # flight, what is queued is taken and made as the next batch's first part
                meanwhile = (partial(self._take_ahead, contexts)
                             if take_ahead and len(pending) > PART_EVENTS else None)
                recorder.insert_parts(self._parts(pending, _made_ahead(ahead, pending)),
                                      tracking=None, notification_ids=False,
                                      meanwhile=meanwhile, **processing.saved_kwargs)
            else:
                stored = list(map(store.mapper.to_stored_event, processing.events))
                if self.outbox is not None:
                    pending = [(e, contexts[e.originator_id]) for e in processing.events]
                    processing.saved_kwargs["outgoing"] = {
                        (e.originator_id, e.originator_version): data for (e, _), data
                        in zip(pending, self.outbox(pending), strict=True) if data is not None}
                recorder.insert_events(stored, tracking=None, **processing.saved_kwargs)
            committed = True
        finally:
            if committed or last_try:  # a failed last try takes them, as Application.save does
                for a, n in zip(aggregates, taken, strict=True):
                    del a.pending_events[:n]  # (an event added meanwhile stays)
        if cached:
            for aggregate_id, aggregate in processing.aggregates.items():
                repository.cache.put(aggregate_id, aggregate)
        app._take_snapshots(processing)

    def _parts(self, pending: list[tuple[Any, EventContext]],
               made: Part | None = None) -> Iterator[Part]:
        """A batch's events in parts (`part_sizes`): each its stored events, the relay's
        messages and the events' contexts, made when the recorder asks for it, after it sent
        the part before. `made`: the first part, made while the last batch committed (its
        first events'); the rest follow it (`rest_sizes`)."""
        to_stored = self.app.events.mapper.to_stored_event
        outbox = self.outbox
        start = 0
        sizes = part_sizes(len(pending))
        if made is not None:
            yield made
            start = len(made[0])
            sizes = rest_sizes(len(pending) - start)
        for size in sizes:
            chunk = pending[start:start + size]
            start += size
            yield ([to_stored(e) for e, _ in chunk],
                   outbox(chunk) if outbox is not None else None,
                   list(map(_CONTEXT, chunk)))


    def _take_ahead(self, batch_contexts: dict[Any, EventContext]) -> None:
        """Called by the recorder once a large batch's last part and COMMIT are sent, while
        PostgreSQL inserts that part and commits (the fsync), when nothing else in this
        process can run (every caller waits for a commit): take what is queued, up to a
        part's worth of events, as the next batch's first commands, and make their part (the
        stored events, the relay's messages) now. The next batch still gathers up to
        max_batch after them. Nothing is made for a command whose aggregate is in the
        committing batch (its events are read once that commits) or twice among them. Never
        raises (the COMMIT is on its way); a part that fails to be made is made again in
        turn, where its failure is reported."""
        if self._ahead is not None or self._stopping:
            return  # (a round retried on another connection calls it again)
        commands: list[_Command] = []
        events = 0
        while events < PART_EVENTS and len(commands) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._stopping = True
                break
            commands.append(item)
            for a in item[0]:
                events += len(a.pending_events)
        if not commands:
            return
        self._ahead = (commands, None, [])  # taken: the next batch starts with them
        try:
            ids = [a.id for c in commands for a in c[0]]
            if len(set(ids)) != len(ids) or not batch_contexts.keys().isdisjoint(ids):
                return
            chunk = [(e, c[1]) for c in commands for a in c[0] for e in a.pending_events]
            if not chunk:
                return
            outbox = self.outbox
            part = ([self.app.events.mapper.to_stored_event(e) for e, _ in chunk],
                    outbox(chunk) if outbox is not None else None,
                    list(map(_CONTEXT, chunk)))
        except Exception:
            return
        self._ahead = (commands, part, chunk)


_CONTEXT = itemgetter(1)


def _made_ahead(ahead: tuple[list[_Command], Part | None, list[Any]] | None,
                pending: list[tuple[Any, EventContext]]) -> Part | None:
    """The part made ahead for the batch's first commands, if the batch's first events are
    still the very events it was made of, with the same contexts (none added or taken
    since)."""
    if ahead is None or ahead[1] is None:
        return None
    made = ahead[2]  # (event, context) of each event in the part
    head = pending[:len(made)]
    if len(head) != len(made) or not all(map(is_, map(_EVENT, head), map(_EVENT, made))) or \
            not all(map(is_, map(_CONTEXT, head), map(_CONTEXT, made))):
        return None
    return ahead[1]


_EVENT = itemgetter(0)


def rest_sizes(m: int) -> list[int]:
    """The sizes of the parts after a part made ahead, for the `m` events left of the batch:
    the last ~31 % of the part before it (PostgreSQL inserts that part, ~8-10 us of its CPU a
    row, while the committer makes the last, ~19 us an event: the committer then waits for
    the last part and COMMIT only, while it makes the next batch's first part), the rest
    before it in even parts of up to PART_EVENTS. A batch of 200 whose first 56 were made
    ahead: 56, 100, 44 (56, 114, 30, the last 15 % of the batch as in `part_sizes`, waited
    longer for its last part and COMMIT: docs/profiles/write-paths.md, session 19)."""
    if m <= 0:
        return []
    last = max(1, min(m * 31 // 100, PART_EVENTS * 31 // 100 + 1))
    if m <= last:
        return [m]
    middle = m - last
    parts = -(-middle // PART_EVENTS)
    size, larger = divmod(middle, parts)
    return [size + 1] * larger + [size] * (parts - larger) + [last]


def part_sizes(n: int) -> list[int]:
    """The sizes of the parts a batch of `n` events is made and sent in: one part up to
    PART_EVENTS; up to twice that in three, half, 35 % and 15 % of it, so that PostgreSQL
    inserts each part while the committer makes the next (a part takes PostgreSQL about a
    third of the time it takes this thread to make) and the last, whose insert and COMMIT the
    committer waits for, is small; more than that in parts of PART_EVENTS first. A batch of
    200: 100, 70 and 30 (150 and 50 before: the committer then waited ~0.55-0.7 ms a batch for
    the last part and COMMIT on a quiet machine, ~0.4 ms with three)."""
    if n <= PART_EVENTS:
        return [n]
    sizes = []
    while n > 2 * PART_EVENTS:
        sizes.append(PART_EVENTS)
        n -= PART_EVENTS
    first, last = n // 2, max(1, n * 3 // 20)
    sizes += (first, n - first - last, last)
    return [size for size in sizes if size]  # (none empty, should PART_EVENTS be tiny)


_TAKE_SNAPSHOTS = Application._take_snapshots


def _stock_save(app: Application) -> bool:
    """Whether the application keeps eventsourcing's own saving (then the committer may take
    its short cut, doing what it does)."""
    kind = type(app)
    return all(getattr(kind, name) is getattr(Application, name)
               for name in ("save", "notify", "_record", "_notify"))


def _settle(outcomes: list[tuple[_Command, BaseException | None]]) -> None:
    """Settle the commands' futures: a sync caller's at once, async callers' in one call per
    event loop (a thread-safe call wakes the loop; one per command would wake it hundreds of
    times a batch)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, BaseException | None]]] = (
        defaultdict(list))
    for c, exc in outcomes:
        done, loop = c[2], c[4]
        if loop is None:
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)
        else:
            by_loop[loop].append((done, exc))
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_in_loop, settled)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


def _settle_committed(batch: list[_Command]) -> None:
    """`_settle` of a batch whose every command committed: only the futures handed over (no
    outcome pair a command, no error to look at), one call per event loop, the one loop a
    batch usually has looked up once, not per command."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
    last: asyncio.AbstractEventLoop | None = None
    futures: list[Any] = []
    for c in batch:
        loop = c[4]
        if loop is None:
            c[2].set_result(None)
        elif loop is last:
            futures.append(c[2])
        else:
            last = loop
            futures = by_loop.setdefault(loop, [])
            futures.append(c[2])
    for loop, settled in by_loop.items():
        try:
            loop.call_soon_threadsafe(_committed_in_loop, settled)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more


class _Watchdog:
    """The async callers' timeouts, for one event loop: one timer per half second while
    commands wait, not one per command (a timer per command, i.e. `asyncio.timeout`, was a
    tenth of a group commit's CPU: a heap push and a cancellation each)."""

    TICK_S = 0.5  # a timeout fires up to this late

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        # each waiting future's deadline in time.monotonic() seconds (the default loop's
        # clock), set by save_async itself (a method call and loop.time() less a command)
        self.waiting: dict[asyncio.Future[None], float] = {}
        self.ticking = False

    def start(self) -> None:
        self.ticking = True
        self.loop.call_later(self.TICK_S, self._tick)

    def _tick(self) -> None:
        now = _monotonic()
        for done, deadline in list(self.waiting.items()):
            if done.done():
                del self.waiting[done]
            elif deadline <= now:
                del self.waiting[done]
                done.set_exception(TimeoutError("the group commit did not answer in time"))
        self.ticking = bool(self.waiting)
        if self.ticking:
            self.loop.call_later(self.TICK_S, self._tick)


_watchdogs: dict[asyncio.AbstractEventLoop, _Watchdog] = {}


def _watchdog(loop: asyncio.AbstractEventLoop) -> _Watchdog:
    dog = _watchdogs.get(loop)
    if dog is None:
        for old in [other for other in list(_watchdogs) if other.is_closed()]:
            _watchdogs.pop(old, None)
        dog = _watchdogs[loop] = _Watchdog(loop)
    return dog


def _committed_in_loop(settled: list[asyncio.Future[None]]) -> None:
    """`_settle_in_loop` of futures whose commands all committed."""
    dog = _watchdogs.get(settled[0].get_loop())
    waiting: dict[asyncio.Future[None], float] = dog.waiting if dog is not None else {}
    forget = waiting.pop
    for done in settled:
        forget(done, None)
        if not done.done():  # its caller gave up (timeout, cancelled)
            done.set_result(None)


def _settle_in_loop(settled: list[tuple[asyncio.Future[None], BaseException | None]]) -> None:
    dog = _watchdogs.get(settled[0][0].get_loop()) if settled else None
    waiting = dog.waiting if dog is not None else {}
    for done, exc in settled:
        waiting.pop(done, None)
        if done.done():  # its caller gave up (timeout, cancelled)
            continue
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)
