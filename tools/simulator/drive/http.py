"""One HTTP call with the retries a well-behaved adapter does, and errors named for the summary."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tools.simulator.drive.errors import ActionError

RETRIES = 4
MAX_RETRY_AFTER_S = 5.0


class Clients:
    """httpx clients of one connection each, one per request in flight, kept for the next.

    One client with a pool of many connections matches requests to connections by scanning
    the pool on every request and answer: ~4 ms of CPU a request at 32 in flight against
    ~1.1 ms this way (bench/intake_load.py), taken from the platform on a small machine."""

    def __init__(self, **options: Any):
        self.options = options | {"limits": httpx.Limits(max_connections=1)}
        self.idle: list[httpx.AsyncClient] = []
        self.every: list[httpx.AsyncClient] = []

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.idle:
            client = self.idle.pop()
        else:
            client = httpx.AsyncClient(**self.options)
            self.every.append(client)
        try:
            return await client.request(method, path, **kwargs)
        finally:
            self.idle.append(client)

    async def aclose(self) -> None:
        for client in self.every:
            await client.aclose()
        self.every, self.idle = [], []


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)[:300]
    return str(body)[:300]


async def call(client: httpx.AsyncClient | Clients, service: str, method: str, path: str,
               **kwargs: Any) -> httpx.Response:
    """Send one request; retry 429 (honouring a short Retry-After), 502-504 and broken
    connections; raise ``ActionError("<service>:<status>")`` for any other 4xx/5xx."""
    for attempt in range(RETRIES + 1):
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            if attempt == RETRIES:
                raise ActionError(f"{service}:unreachable", type(exc).__name__) from exc
            await asyncio.sleep(0.2 * 2**attempt)
            continue
        if response.status_code == 429 and attempt < RETRIES:
            wait = float(response.headers.get("retry-after") or 0.5)
            await asyncio.sleep(min(wait, MAX_RETRY_AFTER_S))
            continue
        if response.status_code in (502, 503, 504) and attempt < RETRIES:
            await asyncio.sleep(0.2 * 2**attempt)
            continue
        if response.status_code >= 400:
            raise ActionError(f"{service}:{response.status_code}", _detail(response))
        return response
    raise ActionError(f"{service}:gave_up")
