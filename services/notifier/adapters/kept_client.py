"""One HTTP client per outside party, kept for the process's life: a new httpx client per
notice built an SSL context each time (21 ms of CPU measured, most of the notifier's cost per
ticket in `make bench`)."""

from __future__ import annotations

import httpx


class KeptClient:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use, inside the running event loop
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
