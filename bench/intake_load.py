"""(b) Intake under load with the rest of the platform running: submissions/s and latency.

Requests are the simulator's (every channel, realistic text), without pictures so the figure
is the submission path itself; an async HTTP client keeps ``concurrency`` requests in flight.

Besides wall-clock figures (which depend on what else the shared machine runs), the CPU time
intake's processes spent per accepted submission (`cpu_ms`, from /proc) is reported: it is
what bounds throughput on a 2-core box, and it moves little with the neighbours' load.

Connections: the client drops a keep-alive connection after ``KEEPALIVE_S`` idle, well before
the server's own keep-alive timeout (uvicorn: 5 s). With both at 5 s (httpx's default), a
connection the client still thought usable was sometimes closed by the server just as the next
request went out on it: a `ReadError`, ~0.3% of requests on a loaded box (measured: the failed
request's connection had been idle 4.4 s by the client's clock, which lags the server's).
A request that fails in transport is retried once with the same body, hence the same
idempotency key, as a channel adapter would (the answer is the same ticket); `retried` counts
those, `errors` what still failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from bench import timeline
from bench.stats import percentile
from tools.simulator.drive.driver import stated
from tools.simulator.drive.requests import to_channel_input
from tools.simulator.drive.settings import Endpoints

KEEPALIVE_S = 2.0


@dataclass(frozen=True)
class IntakeRun:
    requests: int
    ok: int
    errors: dict[str, int]
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    cpu_ms: dict[str, float] = field(default_factory=dict)  # process -> CPU ms per submission
    retried: dict[str, int] = field(default_factory=dict)  # transport errors retried once
    # the client's own CPU per answered request (this process: httpx, JSON): on a shared
    # 2-core box the client competes with intake for the same cores
    client_cpu_ms: float = 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_meter(pids: dict[str, int]) -> Callable[[int], dict[str, float]]:
    """Start counting the processes' CPU; the returned function gives ms per ``n`` done."""
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}

    def per(n: int) -> dict[str, float]:
        return {name: round((cpu_seconds(pid) - start[name]) * 1000 / max(1, n), 2)
                for name, pid in pids.items()}

    return per


def bodies(count: int, seed: int, start: date | None = None) -> list[dict]:
    """``count`` channel inputs of the simulator's requests, stated from ``start`` on (None:
    the days after every earlier run of this process, bench.timeline)."""
    _, submits = timeline.submissions(count, seed, per_day=200, start=start)
    out = []
    for action in submits:
        request = dict(action.payload["request"], pictures=[], video=None)
        out.append(to_channel_input(dict(action.payload, request=request), occurred_at=stated(action.at)))
    return out


async def load(endpoints: Endpoints, payloads: list[dict], *, concurrency: int = 32,
               pids: dict[str, int] | None = None) -> IntakeRun:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    retried: dict[str, int] = {}
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in payloads:
        queue.put_nowait(body)
    headers = endpoints.bearer("channel_adapter", sub="bench-adapter")
    # One client of one connection per worker: with one pool of `concurrency` connections,
    # httpx matched requests to connections by scanning the pool on every request and answer
    # (~4 ms of the client's CPU per request at 32 in flight, more than intake's api spends
    # on it; ~1.5 ms at 4), and on a 2-core box the client's CPU is taken from intake's.
    limits = httpx.Limits(max_connections=1, keepalive_expiry=KEEPALIVE_S)
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient(
            base_url=endpoints.intake, headers=headers, timeout=30, limits=limits))
            for _ in range(concurrency)]

        async def post(client: httpx.AsyncClient, body: dict) -> tuple[str | None, bool]:
            """(None when answered 2xx, else what went wrong; whether a retry may help)."""
            try:
                response = await client.post("/v1/requests", json=body)
            except httpx.TransportError as exc:
                return type(exc).__name__, True
            except httpx.HTTPError as exc:
                return type(exc).__name__, False
            return (None if response.status_code < 300 else f"http_{response.status_code}"), False

        async def worker(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                began = time.perf_counter()
                kind, transient = await post(client, body)
                if kind is not None and transient:
                    retried[kind] = retried.get(kind, 0) + 1
                    # same request id: the same ticket if it was made
                    kind, _ = await post(client, body)
                if kind is None:
                    latencies.append((time.perf_counter() - began) * 1000)
                else:
                    errors[kind] = errors.get(kind, 0) + 1

        began = time.perf_counter()
        client_began = time.process_time()
        meter = cpu_meter(pids or {})
        await asyncio.gather(*(worker(client) for client in clients))
        seconds = time.perf_counter() - began
        cpu = meter(len(latencies))
        client_ms = (time.process_time() - client_began) * 1000 / max(1, len(latencies))
    return IntakeRun(len(payloads), len(latencies), errors, round(seconds, 2),
                     round(len(latencies) / seconds, 1), round(percentile(latencies, 50), 1),
                     round(percentile(latencies, 99), 1), cpu, retried, round(client_ms, 2))


def plan_submissions(count: int, seed: int) -> list[tuple[dict, Any]]:
    """The plan's submissions as the end-to-end driver sends them: (payload, stated time),
    pictures and videos included (uploaded first), each channel through its own adapter."""
    _, submits = timeline.submissions(count, seed, per_day=200)
    return [(a.payload, stated(a.at)) for a in submits]


async def paced(endpoints: Endpoints, submissions: list[tuple[dict, Any]], *, rate: float,
                concurrency: int = 64, pids: dict[str, int] | None = None) -> IntakeRun:
    """An open loop as the end-to-end run loads intake: ``rate`` submissions a second (at
    most ``concurrency`` in flight), through the simulator's channel adapters (one token per
    channel, pictures uploaded before the request: tools/simulator/drive/intake.py). At such
    rates intake's batches are small, so its CPU per submission is the end-to-end run's."""
    from tools.simulator.drive.intake import IntakeAdapters

    adapters = IntakeAdapters(endpoints)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    gate = asyncio.Semaphore(concurrency)

    async def one(payload: dict, at: Any) -> None:
        began = time.perf_counter()
        try:
            await adapters.submit(payload, at=at)
        except Exception as exc:  # counted; the run goes on
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        else:
            latencies.append((time.perf_counter() - began) * 1000)
        finally:
            gate.release()

    tasks = []
    began = time.perf_counter()
    client_began = time.process_time()
    meter = cpu_meter(pids or {})
    try:
        for k, (payload, at) in enumerate(submissions):
            delay = began + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            tasks.append(asyncio.create_task(one(payload, at)))
        await asyncio.gather(*tasks)
    finally:
        await adapters.close()
    seconds = time.perf_counter() - began
    cpu = meter(len(latencies))
    client_ms = (time.process_time() - client_began) * 1000 / max(1, len(latencies))
    return IntakeRun(len(submissions), len(latencies), errors, round(seconds, 2),
                     round(len(latencies) / seconds, 1), round(percentile(latencies, 50), 1),
                     round(percentile(latencies, 99), 1), cpu, {}, round(client_ms, 2))
