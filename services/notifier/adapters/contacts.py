"""The citizen's phone, asked of intake per SMS (intake keeps identities, encrypted; the
notifier holds a number only for the attempt, in memory, and never logs or stores it)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from services.notifier.adapters.kept_client import KeptClient, json_of
from services.notifier.domain.delivery import Outcome


class IntakeContacts(KeptClient):
    def __init__(self, url: str, token: Callable[[], str], timeout_s: float = 5.0):
        super().__init__(timeout_s)
        self.url = url.rstrip("/")
        self.token = token

    async def phone_of(self, ticket_code: str) -> tuple[str | None, Outcome | None]:
        """The phone of the ticket's citizen, or None and why not."""
        try:
            async with self.client().get(
                    f"{self.url}/v1/tickets/{ticket_code}/contact",
                    params={"why": "SMS notice to the citizen (notifier)"},  # access log
                    headers={"authorization": f"Bearer {self.token()}"},
                    allow_redirects=False) as response:
                status = response.status
                answer = await json_of(response) if 200 <= status < 300 else None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, Outcome(False, reason=f"intake cannot be reached ({type(exc).__name__})")
        if status in (404, 410):
            return None, Outcome(False, retryable=False, reason=(
                "the citizen's identity was erased" if status == 410
                else "the ticket has no contact (anonymous)"))
        if not 200 <= status < 300:
            return None, Outcome(False, reason=f"intake answered HTTP {status}")
        phone = (answer if isinstance(answer, dict) else {}).get("phone")
        if not phone:
            return None, Outcome(False, retryable=False, reason="the citizen left no phone")
        return phone, None
