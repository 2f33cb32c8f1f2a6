"""One HTTP call with the retries a well-behaved adapter does, and errors named for the summary."""

from __future__ import annotations

import asyncio
import json as jsonlib
from typing import Any

import aiohttp
import httpx

from tools.simulator.drive.errors import ActionError

RETRIES = 4
MAX_RETRY_AFTER_S = 5.0
TRANSPORT_ERRORS = (httpx.TransportError, aiohttp.ClientError, asyncio.TimeoutError)


class Answer:
    """A response read whole: what the driver looks at (status, headers, the body)."""

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes):
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)


class Clients:
    """The driver's HTTP client of one service: one aiohttp session (lazily made on the running
    loop), its keep-alive connections reused.

    The driver shares the machine with the platform it measures. httpx was half of its CPU
    (py-spy of a closed-loop run: ~660 of ~1,290 event-loop samples in httpx/httpcore, even
    with a client of one connection per request in flight, which had already cut the pool's
    scan from ~4 to ~1.1 ms a request); the notifier measured aiohttp at a seventh of it."""

    def __init__(self, *, base_url: str, timeout: float = 30.0, headers: dict[str, str] | None = None):
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout, headers=self.headers,
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=None))
        return self._session

    async def request(self, method: str, path: str, *, files: dict[str, tuple] | None = None,
                      **kwargs: Any) -> Answer:
        if files:  # multipart, as httpx's files= (name -> (filename, bytes, content type))
            form = aiohttp.FormData()
            for field, (filename, data, mime) in files.items():
                form.add_field(field, data, filename=filename, content_type=mime)
            kwargs["data"] = form
        async with self._open().request(method, self.base_url + path, **kwargs) as response:
            return Answer(response.status, dict(response.headers), await response.read())

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _detail(response: Answer | httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)[:300]
    return str(body)[:300]


async def call(client: httpx.AsyncClient | Clients, service: str, method: str, path: str,
               **kwargs: Any) -> Any:
    """Send one request; retry 429 (honouring a short Retry-After), 502-504 and broken
    connections; raise ``ActionError("<service>:<status>")`` for any other 4xx/5xx."""
    for attempt in range(RETRIES + 1):
        try:
            response = await client.request(method, path, **kwargs)
        except TRANSPORT_ERRORS as exc:
            if attempt == RETRIES:
                raise ActionError(f"{service}:unreachable", type(exc).__name__) from exc
            await asyncio.sleep(0.2 * 2**attempt)
            continue
        if response.status_code == 429 and attempt < RETRIES:
            wait = float(response.headers.get("retry-after") or response.headers.get("Retry-After") or 0.5)
            await asyncio.sleep(min(wait, MAX_RETRY_AFTER_S))
            continue
        if response.status_code in (502, 503, 504) and attempt < RETRIES:
            await asyncio.sleep(0.2 * 2**attempt)
            continue
        if response.status_code >= 400:
            raise ActionError(f"{service}:{response.status_code}", _detail(response))
        return response
    raise ActionError(f"{service}:gave_up")
