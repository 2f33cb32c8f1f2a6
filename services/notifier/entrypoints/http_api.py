"""What staff see of deliveries: a ticket's messages and their outcomes, the dead letters,
and sending a dead notice again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from backbone import auth
from backbone.http import NotFoundError, require
from backbone.ticket_codes import ticket_code
from services.notifier.adapters.store import Store

StaffDep = Annotated[auth.Principal, require("dispatcher", "supervisor")]
SupervisorDep = Annotated[auth.Principal, require("supervisor")]




def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def router(store: Store) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["deliveries"])

    @api.get("/tickets/{code}/deliveries")
    def of_ticket(code: str, principal: StaffDep) -> dict[str, Any]:
        """The messages sent to the ticket's citizen: route, state, attempts, last error."""
        return {"deliveries": [_view(r) for r in store.of_ticket(ticket_code(code))]}

    @api.get("/deliveries/dead")
    def dead(principal: StaffDep,
             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """The dead letters: notices given up on after every retry, newest first."""
        return {"deliveries": [_view(r) for r in store.dead(limit)]}

    @api.post("/deliveries/{notice_id}/resend")
    def resend(notice_id: str, principal: SupervisorDep) -> dict[str, Any]:
        """Send a dead notice again (its attempts start over)."""
        if not store.resend(notice_id, datetime.now(UTC)):
            raise NotFoundError(f"no dead notice {notice_id[:80]!r}")
        return {"notice_id": notice_id, "state": "pending"}

    return api
