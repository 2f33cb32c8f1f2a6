"""The dispatch application: its event store, read model and idempotency keys."""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from services.dispatch.application.projection import change_for
from services.dispatch.domain.ticket_dispatch import TicketDispatch

_REQUEST_NS = uuid.UUID("6a1c2f0e-9d3b-4c55-8e21-0d7e5b3a4c12")


class DispatchApplication(Application):
    """Every save of a changed `TicketDispatch` also writes its read-model rows (same
    transaction; see `adapters.recorder`)."""

    name = "dispatch"

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        changes = [change_for(o, list(o.pending_events)) for o in objs
                   if isinstance(o, TicketDispatch) and o.pending_events]
        if changes:
            kwargs["readmodel"] = changes
        return super().save(*objs, **kwargs)


class UnitRequest(Aggregate):
    """A department system's idempotency key: a retried request returns the first result.

    Saved in the same transaction as the change it made, so two racing retries cannot both
    act; the loser finds this and answers with the winner's result.
    """

    @staticmethod
    def create_id(unit: str, request_id: str) -> uuid.UUID:
        return uuid.uuid5(_REQUEST_NS, f"{unit}\x00{request_id}")

    @event("Recorded")
    def __init__(self, *, unit: str, request_id: str, method: str, ticket_id: str,
                 result: dict[str, Any]) -> None:
        self.unit, self.request_id, self.method = unit, request_id, method
        self.ticket_id = ticket_id
        self.result = dict(result)
