"""The dispatch application: its event store, read model and idempotency keys."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, BaseAggregate, event

from services.dispatch.application.projection import change_for
from services.dispatch.domain.ticket_dispatch import TicketDispatch

log = logging.getLogger(__name__)
_REQUEST_NS = uuid.UUID("6a1c2f0e-9d3b-4c55-8e21-0d7e5b3a4c12")


class DispatchApplication(Application):
    """Every save of a changed `TicketDispatch` also writes its read-model rows (same
    transaction; see `adapters.recorder`)."""

    name = "dispatch"
    # Told of the ticket dispatches a consumer batch has just committed (from the consumer's
    # thread): the department API's reads keep a copy, so a unit's first command on a ticket
    # needs no read at all (adapters.loop_reads.LoopReads.offer, commands.Commands._on_held).
    on_consumer_saved: Callable[[list[TicketDispatch]], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # ids of the dispatches the commands are saving now (they keep their own copy): every
        # other save of a dispatch is the consumer's, handed over by `on_consumer_saved`
        self.commanded: set[uuid.UUID] = set()

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        changes = [change_for(o, list(o.pending_events)) for o in objs
                   if isinstance(o, TicketDispatch) and o.pending_events]
        if changes:
            kwargs["readmodel"] = changes
        if self.snapshots is not None or not all(isinstance(o, BaseAggregate) for o in objs):
            return super().save(*objs, **kwargs)
        consumed = ([o for o in objs if isinstance(o, TicketDispatch)
                     and o.id not in self.commanded]
                    if changes and self.on_consumer_saved is not None else [])
        # What Application.save does for aggregates, less its per-object `isinstance` checks
        # against runtime Protocols and a Recording and Notification per event that only its
        # (stock, empty) `_notify` reads: a tenth of a save's CPU, and every consumer batch,
        # department command and console command saves here.
        stored = self.events.mapper.to_stored_event
        self.events.recorder.insert_events(
            [stored(e) for o in objs for e in o.collect_events()], tracking=None, **kwargs)
        repository = self.repository
        if repository.cache and not repository.fastforward:
            for o in objs:
                repository.cache.put(o.id, o)
        if consumed and self.on_consumer_saved is not None:
            try:  # committed (insert_events returned): the state the store now has
                self.on_consumer_saved(consumed)
            except Exception:  # a lost hand-over costs a read later; never fail a commit
                log.warning("handing committed dispatches to the commands failed",
                            exc_info=True)
        return []


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
