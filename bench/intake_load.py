"""(b) Intake under load with the rest of the platform running: submissions/s and latency.

Requests are the simulator's (every channel, realistic text), without pictures so the figure
is the submission path itself; an async HTTP client keeps ``concurrency`` requests in flight.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from bench.stats import percentile
from tools.simulator import build_plan
from tools.simulator.drive.driver import stated
from tools.simulator.drive.requests import to_channel_input
from tools.simulator.drive.settings import Endpoints


@dataclass(frozen=True)
class IntakeRun:
    requests: int
    ok: int
    errors: dict[str, int]
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float


def bodies(count: int, seed: int) -> list[dict]:
    plan = build_plan(seed=seed, days=max(1, count // 200 + 1), per_day=200, episodes=False)
    submits = [a for a in plan.actions if a.kind == "submit"][:count]
    out = []
    for action in submits:
        request = dict(action.payload["request"], pictures=[], video=None)
        out.append(to_channel_input(dict(action.payload, request=request), occurred_at=stated(action.at)))
    return out


async def load(endpoints: Endpoints, payloads: list[dict], *, concurrency: int = 32) -> IntakeRun:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in payloads:
        queue.put_nowait(body)
    headers = endpoints.bearer("channel_adapter", sub="bench-adapter")
    async with httpx.AsyncClient(base_url=endpoints.intake, headers=headers, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                began = time.perf_counter()
                try:
                    response = await client.post("/v1/requests", json=body)
                    kind = None if response.status_code < 300 else f"http_{response.status_code}"
                except httpx.HTTPError as exc:
                    kind = type(exc).__name__
                if kind is None:
                    latencies.append((time.perf_counter() - began) * 1000)
                else:
                    errors[kind] = errors.get(kind, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
    return IntakeRun(len(payloads), len(latencies), errors, round(seconds, 2),
                     round(len(latencies) / seconds, 1), round(percentile(latencies, 50), 1),
                     round(percentile(latencies, 99), 1))
