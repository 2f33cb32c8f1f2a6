"""Dispatch's console HTTP API, as the platform's dispatchers (平台统筹) use it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tools.simulator.drive.http import Clients, call
from tools.simulator.drive.settings import Endpoints

DISPATCHER = "sim-dispatcher"


class DispatcherConsole:
    def __init__(self, endpoints: Endpoints, *, timeout: float = 30.0):
        self.client = Clients(base_url=endpoints.dispatch, timeout=timeout,
                                        headers=endpoints.bearer("dispatcher", sub=DISPATCHER))

    async def close(self) -> None:
        await self.client.aclose()

    @staticmethod
    def _at(at: datetime | None) -> dict[str, Any]:
        return {"at": at.isoformat()} if at is not None else {}

    async def assign(self, ticket_id: str, unit: str, text: str, *, at: datetime | None) -> Any:
        """Assign (or, after a bounce-back, re-assign) a ticket to a unit."""
        response = await call(self.client, "console", "POST", f"/v1/tickets/{ticket_id}/assign",
                              json={"unit": unit, "reason": text} | self._at(at))
        return response.json()

    async def coordinate(self, ticket_id: str, lead: str, co_units: list[str], text: str, *,
                         at: datetime | None) -> Any:
        """统筹协调: a lead unit and co-handling units, with the written decision."""
        response = await call(self.client, "console", "POST",
                              f"/v1/tickets/{ticket_id}/coordinate",
                              json={"lead_unit": lead, "co_units": co_units, "decision": text}
                              | self._at(at))
        return response.json()

    async def queue(self, name: str) -> list[dict[str, Any]]:
        """The tickets waiting in one of the console's queues (unrouted, bounced back, ...)."""
        response = await call(self.client, "console", "GET", "/v1/queues", params={"queue": name})
        return list(response.json().get("tickets", []))

    async def review(self, ticket_id: str, *, accepted: bool, reason: str = "",
                     at: datetime | None) -> Any:
        response = await call(self.client, "console", "POST", f"/v1/tickets/{ticket_id}/review",
                              json={"accepted": accepted, "reason": reason} | self._at(at))
        return response.json()
