"""One HTTP client per outside party, kept for the process's life: a new client per notice
built an SSL context each time (21 ms of CPU measured, most of the notifier's cost per ticket
in `make bench`).

aiohttp, not httpx: a request costs the caller ~0.15 ms of CPU with aiohttp and ~1.1 ms with
httpx (a GET against a local server, 1,000 requests each, same process); an SMS costs one
(the phone, from intake) and a real gateway one more. aiohttp is on board already (faust's
web server)."""

from __future__ import annotations

from typing import Any

import aiohttp


class KeptClient:
    def __init__(self, timeout_s: float):
        self.timeout_s = timeout_s
        self._client: aiohttp.ClientSession | None = None

    def client(self) -> aiohttp.ClientSession:
        if self._client is None:  # made on first use, inside the running event loop
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


async def json_of(response: aiohttp.ClientResponse) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None
