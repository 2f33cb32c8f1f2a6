"""(a) End to end: tickets/s from submission to rating to the audit ledger, and the latency
from submission to assignment (TicketAssigned seen on the lifecycle topic).

Each ticket lives a short, complete life driven through the public interfaces only: a channel
adapter submits it, the unit that dispatch assigned signs for it and replies, the citizen rates
the reply with the link from their notice. Simulated minutes apart (event clock), as fast as
the platform goes with ``concurrency`` actions in flight.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from minsheng.v1 import envelope_pb2, sla_events_pb2

from backbone import events
from bench import timeline
from bench.stats import median, percentile
from tools.simulator.behaviour import REPLY_TEXTS
from tools.simulator.drive.dispatch import Holding
from tools.simulator.drive.driver import Waits
from tools.simulator.drive.scheduler import Scheduler
from tools.simulator.drive.session import open_session
from tools.simulator.drive.settings import Endpoints
from tools.simulator.model import RATE, REPLY, SIGN_FOR, SimAction


@dataclass(frozen=True)
class EndToEndRun:
    tickets: int
    rated: int
    in_ledger: int
    seconds: float
    tickets_per_second: float
    assign_p50_ms: float
    assign_p99_ms: float
    envelope_median_bytes: float
    errors: dict[str, int]
    dispatcher_assigned: int = 0  # tickets dispatch left to a human, assigned by the console
    drive_seconds: float = 0.0  # until the last simulated action finished
    ledger_wait_seconds: float = 0.0  # then until the ledger held every rating
    slowest_action_ms: dict[str, float] | None = None  # p99 wall time per kind of action
    # the ledger's entries a rated ticket (all, and sla's): what a ticket cost the platform in
    # events. A closed loop whose event clock runs ahead of its slow tickets makes sla fire
    # their deadlines (warnings, overdue, supervision orders): events a real day would not have
    events_per_ticket: float = 0.0
    sla_events_per_ticket: float = 0.0


def short_lives(count: int, seed: int, start: date | None = None,
                per_day: int = 150) -> tuple[list[SimAction], Any]:
    """``count`` tickets, each: submit, sign for, reply, rate (a minute apart), stated from
    ``start`` on (None: the days after every earlier run of this process, bench.timeline)."""
    plan, submits = timeline.submissions(count, seed, per_day=per_day, start=start)
    actions: list[SimAction] = []
    for submit in submits:
        truth = plan.truths[submit.ticket]
        unit = f"unit:{truth.handling_unit}"
        actions += [submit,
                    SimAction(submit.at + timedelta(minutes=1), submit.ticket, 1, SIGN_FOR, unit, {}),
                    SimAction(submit.at + timedelta(minutes=2), submit.ticket, 2, REPLY, unit,
                              {"text": REPLY_TEXTS[truth.request_type], "outcome": "resolved"}),
                    SimAction(submit.at + timedelta(minutes=3), submit.ticket, 3, RATE,
                              f"citizen:{truth.citizen}", {"rating": "satisfied", "comment": None})]
    return actions, plan


# the closed loop's watch: 64 KB or 50 ms a fetch (a merged or queued ticket's prompt to the
# dispatcher may wait that long; the driver's waits are seconds)
WATCH_GATHER = (64 * 1024, 50)


class LifecycleWatch:
    """Follows the lifecycle topic: when each ticket's first TicketAssigned arrived, and the
    size of every envelope.

    `gather` (bytes, ms): let the broker hold each fetch until that many bytes or ms. The open
    loop times assignments by this watch, so it fetches at every message (None); the closed
    loop only needs it to prompt the dispatcher, and a fetch per message made this watch the
    broker's busiest client (2.15 of its 9.7 requests a ticket, docs/profiles/consumer-core.md),
    measured as the platform's Kafka CPU."""

    def __init__(self, endpoints: Endpoints, gather: tuple[int, int] | None = None):
        self.endpoints = endpoints
        self.gather = gather
        self.assigned_at: dict[str, float] = {}
        self.last_type: dict[str, str] = {}  # each ticket's latest event type
        self.queued_at: dict[str, float] = {}  # left to a human dispatcher (classifier unsure)
        self._queued: dict[str, asyncio.Event] = {}
        self.merged: set[str] = set()  # duplicates merged into a case
        # when the relay produced each ticket's TicketAccepted and TicketAssigned (the
        # records' CreateTime, wall clock s), and when this watch saw the assignment
        self.produced: dict[tuple[str, str], float] = {}
        self.assigned_seen_wall: dict[str, float] = {}
        self.sizes: list[int] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        topic = self.endpoints.topic("tickets.events")
        pace = ({"fetch_min_bytes": self.gather[0], "fetch_max_wait_ms": self.gather[1]}
                if self.gather else {})
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.endpoints.kafka_bootstrap,
                                          enable_auto_commit=False, **pace)
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(topic) or set(range(12))
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        """Each record's envelope only, for its type and ticket (decode() parsed the payload
        too: 1.8 µs a record against 0.7), and the fetched records a batch at a time (getmany)
        instead of one awaited getone each: the watch runs in the driver's process, beside
        the platform it measures (docs/profiles/driver-cpu.md)."""
        assert self._consumer is not None
        consumer = self._consumer
        envelope, accepted_or_assigned = envelope_pb2.Envelope(), ("TicketAccepted", "TicketAssigned")
        sizes, last_type, produced = self.sizes, self.last_type, self.produced
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for messages in batches.values():
                for message in messages:
                    sizes.append(len(message.value))
                    try:  # what decode() refuses is passed over, as before (but the payload)
                        events.checked_envelope(message.value, envelope)
                    except events.EnvelopeError:
                        continue
                    event_type, ticket_id = envelope.event_type, envelope.ticket_id
                    last_type[ticket_id] = event_type
                    if event_type in accepted_or_assigned:
                        produced.setdefault((ticket_id, event_type), message.timestamp / 1000)
                    if event_type == "TicketAssigned":
                        self.assigned_at.setdefault(ticket_id, time.perf_counter())
                        self.assigned_seen_wall.setdefault(ticket_id, time.time())
                    elif event_type == "TicketQueuedForDispatcher":
                        self.queued_at.setdefault(ticket_id, time.perf_counter())
                        self.queued(ticket_id).set()
                    elif event_type == "TicketMergedIntoCase":
                        self.merged.add(ticket_id)
                        self.queued(ticket_id).set()

    def queued(self, ticket_id: str) -> asyncio.Event:
        """Set once dispatch queued the ticket for a human dispatcher, or merged it into a
        case (并单: its assignment is withdrawn in the same step, so no unit ever holds it)."""
        return self._queued.setdefault(ticket_id, asyncio.Event())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()


def prompt_dispatcher(board: Any, watch: LifecycleWatch) -> None:
    """A ticket the classifier is unsure of (TicketQueuedForDispatcher) is routed by the
    simulated desk when its 0.5 s poll of the console's queue finds it, or else by the driver
    after ``Waits.dispatcher_after`` (10 s) without an assignment: right for a month's
    simulation, but here such a ticket (~40 %) can hold an in-flight slot for 10 idle seconds
    and the figure would measure the wait instead of the platform. So the first wait for a
    ticket's assignment ends as soon as dispatch queues it, and the driver's dispatcher assigns
    it through the console at once (a 409 when the desk was quicker is expected). A duplicate
    merged into a case (~5 %) never reaches a unit either: its wait ends as soon as dispatch
    merges it, with the withdrawn holding the driver ends such a ticket's life on, instead of
    after 10 idle seconds (which made the last seconds of a run its longest)."""
    original = board.wait_for
    prompted: set[str] = set()

    async def wait_for(ticket_id: str, *, newer_than: int = 0, timeout: float) -> Any:
        if ticket_id in prompted:
            return await original(ticket_id, newer_than=newer_than, timeout=timeout)
        prompted.add(ticket_id)
        assigned = asyncio.ensure_future(original(ticket_id, newer_than=newer_than, timeout=timeout))
        queued = asyncio.ensure_future(watch.queued(ticket_id).wait())
        done, _ = await asyncio.wait({assigned, queued}, return_when=asyncio.FIRST_COMPLETED)
        if assigned in done:
            queued.cancel()
            return assigned.result()
        assigned.cancel()
        if ticket_id in watch.merged:
            return Holding(ticket_id, "", "", newer_than + 1, "lead", "withdrawn")
        return None  # queued for a human: the driver's dispatcher assigns it now

    board.wait_for = wait_for


def _auditor(endpoints: Endpoints) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=endpoints.audit, timeout=30,
                             headers=endpoints.bearer("auditor", sub="bench-auditor"))


async def ledger_end(endpoints: Endpoints) -> int:
    """The cursor just past the ledger's last entry now: where this run's entries will start.

    Read before a run so that counting its tickets in the ledger pages through this run's
    entries only, not the whole history of the platform (the warm-up run and every repeat
    before it): each entry the auditors' page returns costs audit CPU, which the run charges
    to its tickets. Starts from the newest signed checkpoint's tree size (entries below it
    exist) and pages to the end from there."""
    async with _auditor(endpoints) as client:
        latest = await client.get("/v1/checkpoints/latest")
        after = max(0, latest.json()["tree_size"] - 1) if latest.status_code == 200 else 0
        while True:
            page = (await client.get("/v1/ledger/entries", params={"after": after, "limit": 1000})).json()
            if not page["entries"]:
                return int(after)
            after = page["next_after"]


@dataclass
class LedgerTally:
    """What the ledger holds of a run's tickets: which of them reached the awaited type, and
    their entries by type (to the page where the last awaited one was found)."""
    found: set[str] = field(default_factory=set)
    by_type: dict[str, int] = field(default_factory=dict)

    def per_ticket(self, types: Collection[str] | None = None) -> float:
        n = sum(c for t, c in self.by_type.items() if types is None or t in types)
        return round(n / max(1, len(self.found)), 2)


SLA_EVENT_TYPES = frozenset(sla_events_pb2.DESCRIPTOR.message_types_by_name)


async def ledger_count(endpoints: Endpoints, tickets: set[str], event_type: str, *,
                       timeout: float, want: int, after: int = 0) -> LedgerTally:
    """Which of ``tickets`` have ``event_type`` in the audit ledger from cursor ``after`` on
    (waits up to ``timeout`` for ``want`` of them), and their entries by type."""
    tally = LedgerTally()
    deadline = time.monotonic() + timeout
    async with _auditor(endpoints) as client:
        while time.monotonic() < deadline:
            page = (await client.get("/v1/ledger/entries", params={"after": after, "limit": 1000})).json()
            for entry in page["entries"]:
                if entry["ticket_id"] not in tickets:
                    continue
                kind = entry.get("event_type", "")
                tally.by_type[kind] = tally.by_type.get(kind, 0) + 1
                if kind == event_type:
                    tally.found.add(entry["ticket_id"])
            after = page["next_after"]
            if len(tally.found) >= want:
                break
            if not page["entries"]:
                await asyncio.sleep(0.2)
    return tally


async def run(endpoints: Endpoints, *, tickets: int, seed: int, concurrency: int = 64,
              window: Callable[[bool], None] | None = None, per_day: int = 150,
              max_lag: timedelta = timedelta(days=3650)) -> EndToEndRun:
    """``window(True)`` is called as the first action starts, ``window(False)`` once the ledger
    holds the last rating: the run's own span, without the session's set-up (its consumers,
    one StreamAssignments per unit, paging to the ledger's end: ~5 s of a nearly idle
    machine) or its teardown, so that what is measured in it is what the tickets cost."""
    actions, plan = short_lives(tickets, seed, per_day=per_day)
    ledger_from = await ledger_end(endpoints)
    watch = LifecycleWatch(endpoints, gather=WATCH_GATHER)
    await watch.start()
    submitted_at: dict[str, float] = {}
    async with open_session(endpoints, unit_names=plan.unit_names, truths=plan.truths, seed=seed,
                            waits=Waits(assignment=30, dispatcher_after=10, notice=30),
                            replan=False) as session:
        intake = session.driver.intake
        original = intake.submit

        async def timed_submit(submit, *, at):  # type: ignore[no-untyped-def]
            began = time.perf_counter()
            result = await original(submit, at=at)
            submitted_at[result.ticket_id] = began
            return result

        intake.submit = timed_submit  # type: ignore[method-assign]
        prompt_dispatcher(session.driver.board, watch)
        errors: dict[str, int] = {}
        took: dict[str, list[float]] = {}
        timed_act = session.driver.act

        async def act(action: SimAction) -> None:
            started = time.perf_counter()
            try:
                await timed_act(action)
            finally:
                took.setdefault(action.kind, []).append((time.perf_counter() - started) * 1000)

        def done(action: SimAction, error: BaseException | None) -> None:
            if error is not None and not getattr(error, "expected", False):  # merges are outcomes
                kind = getattr(error, "kind", type(error).__name__)
                errors[kind] = errors.get(kind, 0) + 1

        scheduler = Scheduler(act, concurrency=concurrency,
                              max_lag=max_lag, on_done=done)
        session.driver.scheduler = scheduler
        scheduler.add(actions)
        if window is not None:
            window(True)
        began = time.perf_counter()
        await scheduler.run()
        driven = time.perf_counter()
        rated_ids = {s.ticket_id for s in session.driver.tickets.values()}
        rated = session.tally.done["rated"]
        tally = await ledger_count(endpoints, rated_ids, "TicketRated", timeout=120, want=rated,
                                   after=ledger_from)
        in_ledger = len(tally.found)
        seconds = time.perf_counter() - began
        if window is not None:
            window(False)
    await watch.stop()
    waits = [(watch.assigned_at[t] - s) * 1000 for t, s in submitted_at.items() if t in watch.assigned_at]
    return EndToEndRun(tickets, rated, in_ledger, round(seconds, 2), round(in_ledger / seconds, 2),
                       round(percentile(waits, 50), 1), round(percentile(waits, 99), 1),
                       median([float(s) for s in watch.sizes]), errors,
                       session.tally.done.get("dispatcher_assigned", 0),
                       round(driven - began, 2), round(time.perf_counter() - driven, 2),
                       {kind: round(percentile(ms, 99), 1) for kind, ms in sorted(took.items())},
                       tally.per_ticket(), tally.per_ticket(SLA_EVENT_TYPES))


def envelope_size(runs: list[EndToEndRun], fallback: int = 600) -> int:
    sizes = [r.envelope_median_bytes for r in runs if r.envelope_median_bytes == r.envelope_median_bytes]
    return int(median(sizes)) if sizes else fallback
