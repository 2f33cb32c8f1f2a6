"""Run a plan's actions in simulated-time order, many tickets at once, each ticket in order.

Three rules keep a fast run faithful to event time:
- a ticket's actions run one after another (its lane), because each is caused by the one before;
- at most ``concurrency`` actions are in flight, so the services see a bounded load;
- no action starts while an action more than ``max_lag`` of simulated time earlier is still
  pending, so the services' event-time watermark never runs far ahead of a slow ticket (an SLA
  timer must not fire on a ticket whose reply is merely still on its way).
Actions can be added while running (``inject``): the driver re-plans a ticket's tail when the
platform routed it to another unit than the plan expected.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from tools.simulator.drive.errors import TicketGaveUpError
from tools.simulator.model import SimAction

RunAction = Callable[[SimAction], Awaitable[None]]
OnDone = Callable[[SimAction, BaseException | None], None]


def _cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


class Scheduler:
    def __init__(self, run_action: RunAction, *, concurrency: int = 32,
                 max_lag: timedelta = timedelta(minutes=30), on_done: OnDone | None = None):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.run_action = run_action
        self.on_done = on_done or (lambda action, error: None)
        self.concurrency = concurrency
        self.max_lag = max_lag
        self._queue: list[tuple[datetime, str, int, int, SimAction]] = []
        self._order = itertools.count()
        self._pending: dict[int, datetime] = {}
        # the pending actions' (time, key), oldest first; a finished action's entry is dropped
        # when it reaches the top (the oldest is read on every start: a min over every action
        # in flight was O(n) a start, 3 % of the driver's CPU at 1024 in flight)
        self._pending_times: list[tuple[datetime, int]] = []
        self._lanes: dict[str, asyncio.Task[None]] = {}
        self._given_up: dict[str, TicketGaveUpError] = {}
        self._changed: asyncio.Future[None] | None = None  # the walker waits on it for a finish
        self._slots = asyncio.Semaphore(concurrency)
        self.position: datetime | None = None  # simulated time of the latest action started
        self.stopping = False

    def add(self, actions: Iterable[SimAction]) -> None:
        for action in actions:
            heapq.heappush(self._queue, (action.at, action.ticket, action.step, next(self._order), action))

    def replace_rest_of(self, ticket: str, actions: Iterable[SimAction]) -> int:
        """Forget a ticket's queued actions and queue ``actions`` instead (while running: any
        dated before the current position run next). Returns how many were forgotten."""
        before = len(self._queue)
        self._queue = [item for item in self._queue if item[1] != ticket]
        heapq.heapify(self._queue)
        forgotten = before - len(self._queue)
        self.add(actions)
        return forgotten

    def stop(self) -> None:
        self.stopping = True
        self._wake()

    def _oldest_pending(self) -> datetime | None:
        times, pending = self._pending_times, self._pending
        while times and times[0][1] not in pending:
            heapq.heappop(times)
        return times[0][0] if times else None

    def _may_start(self, at: datetime) -> bool:
        oldest = self._oldest_pending()
        return self.stopping or oldest is None or oldest >= at - self.max_lag

    def _wake(self) -> None:
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)

    async def run(self) -> None:
        """Start every queued action in time order; return when all have finished (including
        any injected while the last ones ran)."""
        while self._queue and not self.stopping:
            await self._walk()
            await asyncio.gather(*self._lanes.values(), return_exceptions=True)

    async def _walk(self) -> None:
        while self._queue and not self.stopping:
            at, ticket, _, _, action = heapq.heappop(self._queue)
            while not self._may_start(at):  # woken by each action that finishes
                self._changed = asyncio.get_running_loop().create_future()
                await self._changed
            if self.stopping:
                break
            await self._slots.acquire()
            self.position = max(self.position or at, at)
            key = next(self._order)
            self._pending[key] = at
            heapq.heappush(self._pending_times, (at, key))
            previous = self._lanes.get(ticket)
            self._lanes[ticket] = asyncio.create_task(self._step(key, action, previous))
            # The walker may have been the last to notice a freed slot: let tasks run.
            await asyncio.sleep(0)

    async def _step(self, key: int, action: SimAction, previous: asyncio.Task[None] | None) -> None:
        error: BaseException | None = None
        try:
            if previous is not None and not previous.done():
                # awaited directly: a gather of one made a future and a callback more a step.
                # A step raises nothing but its cancellation: a cancelled previous step is
                # passed over (gather returned it), this step's own cancellation goes on
                try:
                    await previous
                except asyncio.CancelledError:
                    if _cancelling():
                        raise
            ended = self._given_up.get(action.ticket)
            if ended is not None:
                error = TicketGaveUpError(f"skipped_after:{ended.kind}", ended.detail,
                                          expected=ended.expected)
            elif self.stopping:
                error = TicketGaveUpError("skipped_stopping")
            else:
                await self.run_action(action)
        except TicketGaveUpError as exc:
            self._given_up[action.ticket] = exc
            error = exc
        except Exception as exc:
            error = exc
        finally:
            self._slots.release()
            del self._pending[key]
            self._wake()
            self.on_done(action, error)


class LiveScheduler:
    """A live stream's pacing: each ticket's actions run at their wall-clock moment, ticket by
    ticket in order, simulated durations divided by ``speed`` (1440: a day passes in a minute)."""

    def __init__(self, run_action: RunAction, *, speed: float, concurrency: int = 32,
                 on_done: OnDone | None = None):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.run_action = run_action
        self.on_done = on_done or (lambda action, error: None)
        self.speed = speed
        self._slots = asyncio.Semaphore(concurrency)
        self._lines: dict[str, list[SimAction]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.position: datetime | None = None
        self.stopping = False
        self._in_flight = 0

    def start_ticket(self, origin: datetime, actions: list[SimAction]) -> None:
        """Follow one ticket's timeline; ``origin`` (its submission time) happens now."""
        ticket = actions[0].ticket
        self._lines[ticket] = sorted(actions, key=SimAction.sort_key)
        task = asyncio.create_task(self._follow(ticket, origin, asyncio.get_running_loop().time()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def replace_rest_of(self, ticket: str, actions: Iterable[SimAction]) -> int:
        line = self._lines.get(ticket, [])
        forgotten = len(line)
        line[:] = sorted(actions, key=SimAction.sort_key)
        return forgotten

    async def _follow(self, ticket: str, origin: datetime, wall_origin: float) -> None:
        loop = asyncio.get_running_loop()
        line = self._lines[ticket]
        try:
            while line and not self.stopping:
                action = line.pop(0)
                due = wall_origin + (action.at - origin).total_seconds() / self.speed
                await asyncio.sleep(max(0.0, due - loop.time()))
                if self.stopping:
                    return
                error: BaseException | None = None
                async with self._slots:
                    if self.stopping:
                        return
                    self.position = action.at
                    self._in_flight += 1
                    try:
                        await self.run_action(action)
                    except Exception as exc:
                        error = exc
                    finally:
                        self._in_flight -= 1
                self.on_done(action, error)
                if isinstance(error, TicketGaveUpError):
                    return
        finally:
            self._lines.pop(ticket, None)

    @property
    def open_tickets(self) -> int:
        return len(self._lines)

    async def drain(self, timeout: float = 60.0) -> None:
        """Start nothing more and let the actions under way finish (a call cut off half way
        leaves the caller unsure whether it happened)."""
        self.stopping = True
        deadline = asyncio.get_running_loop().time() + timeout
        while self._in_flight and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.stopping = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
