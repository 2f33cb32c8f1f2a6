"""Open loop: submissions at a fixed rate whatever the platform answers, and the latency from
each submission to its TicketAssigned on the lifecycle topic.

A closed loop (bench.e2e, bench.intake_load) slows down with the platform and hides a queue
building up; here the i-th request is due at ``start + i / rate`` and its latency is counted
from that moment (not from when it was sent), so a client or server that falls behind shows in
the figures instead of lowering the offered rate (no coordinated omission).

Only dispatch's own routing counts: a ticket the classifier is unsure of waits for a human
dispatcher (TicketQueuedForDispatcher; nobody acts here), and a ticket merged into a case
(并单) is not assigned on its own; both are in ``not_assigned``, not in the assignment
percentiles. ``decided_*`` is the latency to dispatch's decision either way (assigned or
queued for a human).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

import httpx

from bench.e2e import LifecycleWatch
from bench.intake_load import KEEPALIVE_S
from bench.stats import percentile
from tools.simulator.drive.settings import Endpoints


@dataclass(frozen=True)
class OpenLoopRun:
    offered_per_s: float
    submitted: int
    accepted: int  # answered 2xx
    assigned: int  # TicketAssigned seen within the wait
    not_assigned: int
    sent_late_ms_p99: float  # how late the client sent requests (its own lag)
    submit_p50_ms: float  # the POST's own latency
    submit_p99_ms: float
    assign_p50_ms: float
    assign_p99_ms: float
    decided_p50_ms: float = float("nan")  # to dispatch's decision: assigned, or queued for a human
    decided_p99_ms: float = float("nan")
    errors: dict[str, int] = field(default_factory=dict)
    # where the p50 goes, hop by hop (Kafka records' CreateTime against this machine's clock):
    # due -> TicketAccepted produced (intake's POST, its commit, the relay), -> TicketAssigned
    # produced (dispatch: consume, decide, commit, its relay), -> seen here (Kafka's delivery)
    hops_p50_ms: dict[str, float] = field(default_factory=dict)
    not_assigned_last_event: dict[str, int] = field(default_factory=dict)  # where they stopped


def schedule(count: int, rate: float) -> list[float]:
    """Offsets (s) at which the requests are due."""
    return [i / rate for i in range(count)]


async def settle(count, *, want: int, wait_s: float, quiet_s: float = 10.0) -> None:
    """Wait until ``count()`` reaches ``want``, or stops growing for ``quiet_s`` (tickets left
    to a human dispatcher never come), at most ``wait_s``."""
    deadline = time.monotonic() + wait_s
    last, changed = count(), time.monotonic()
    while last < want and time.monotonic() < deadline and time.monotonic() - changed < quiet_s:
        await asyncio.sleep(0.2)
        now = count()
        if now != last:
            last, changed = now, time.monotonic()


async def run(endpoints: Endpoints, payloads: list[dict], *, rate: float,
              wait_s: float = 60.0) -> OpenLoopRun:
    watch = LifecycleWatch(endpoints)
    await watch.start()
    due_at: dict[str, float] = {}
    due_wall: dict[str, float] = {}
    posts: list[float] = []
    late: list[float] = []
    errors: dict[str, int] = {}
    headers = endpoints.bearer("channel_adapter", sub="bench-adapter")
    # Clients of one connection each, taken by a request while it is in flight and made when
    # none is free: one client with a pool of many connections scans that pool on every
    # request and answer (bench/intake_load.py measured ~4 ms of the client's CPU a request at
    # 32 in flight, against ~1.1 ms this way), and on 2 cores it is taken from the platform.
    limits = httpx.Limits(max_connections=1, keepalive_expiry=KEEPALIVE_S)
    idle: list[httpx.AsyncClient] = []
    async with contextlib.AsyncExitStack() as clients:
        async def submit(body: dict, due: float) -> None:
            late.append((time.perf_counter() - due) * 1000)
            client = idle.pop() if idle else await clients.enter_async_context(httpx.AsyncClient(
                base_url=endpoints.intake, headers=headers, timeout=60, limits=limits))
            try:
                response = await client.post("/v1/requests", json=body)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            finally:
                idle.append(client)
            if response.status_code >= 300:
                errors[f"http_{response.status_code}"] = errors.get(f"http_{response.status_code}", 0) + 1
                return
            posts.append((time.perf_counter() - due) * 1000)
            ticket_id = str(response.json()["ticket_id"])
            due_at[ticket_id] = due
            due_wall[ticket_id] = due - clocks

        began = time.perf_counter()
        clocks = began - time.time()  # perf_counter minus wall clock
        tasks = []
        for body, offset in zip(payloads, schedule(len(payloads), rate), strict=True):
            delay = began + offset - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(submit(body, began + offset)))
        await asyncio.gather(*tasks)
    await settle(lambda: len(set(due_at) & (set(watch.assigned_at) | set(watch.queued_at))),
                 want=len(due_at),
                 wait_s=wait_s)
    await watch.stop()
    stopped: dict[str, int] = {}
    for ticket in set(due_at) - set(watch.assigned_at):
        last = watch.last_type.get(ticket, "nothing seen")
        stopped[last] = stopped.get(last, 0) + 1
    waits = [(watch.assigned_at[t] - due) * 1000 for t, due in due_at.items() if t in watch.assigned_at]
    decided = [(min(watch.assigned_at.get(t, math.inf), watch.queued_at.get(t, math.inf)) - due) * 1000
               for t, due in due_at.items() if t in watch.assigned_at or t in watch.queued_at]
    return OpenLoopRun(rate, len(payloads), len(due_at), len(waits), len(due_at) - len(waits),
                       round(percentile(late, 99), 1), round(percentile(posts, 50), 1),
                       round(percentile(posts, 99), 1), round(percentile(waits, 50), 1),
                       round(percentile(waits, 99), 1), round(percentile(decided, 50), 1),
                       round(percentile(decided, 99), 1), errors, hops(watch, due_wall), stopped)


def hops(watch: LifecycleWatch, due_wall: dict[str, float]) -> dict[str, float]:
    legs: dict[str, list[float]] = {"to_accepted": [], "accepted_to_assigned": [],
                                    "assigned_to_seen": []}
    for ticket, due in due_wall.items():
        accepted = watch.produced.get((ticket, "TicketAccepted"))
        assigned = watch.produced.get((ticket, "TicketAssigned"))
        seen = watch.assigned_seen_wall.get(ticket)
        if accepted is None or assigned is None or seen is None:
            continue
        legs["to_accepted"].append((accepted - due) * 1000)
        legs["accepted_to_assigned"].append((assigned - accepted) * 1000)
        legs["assigned_to_seen"].append((seen - assigned) * 1000)
    return {leg: round(percentile(ms, 50), 1) for leg, ms in legs.items() if ms}


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.open_loop --rate 50 --seconds 20 --rounds 3``: the open loop alone, on
    an isolated platform, one JSON line per round (needs the machine to itself, `make infra`)."""
    import argparse
    import json
    import os
    from dataclasses import asdict

    from bench import intake_load, platform
    from bench.run import BENCH_ENV

    os.environ.setdefault("MINSHENG_ENVIRONMENT", "development")
    parser = argparse.ArgumentParser(prog="python -m bench.open_loop")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    with platform.running(BENCH_ENV) as running:
        endpoints = platform.endpoints(running)
        for i in range(args.rounds):
            bodies = intake_load.bodies(int(args.rate * args.seconds), seed=6000 + i)
            got = asyncio.run(run(endpoints, bodies, rate=args.rate))
            print(json.dumps(asdict(got), ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main()
