"""Wall clock: a command does not fire what its ticket owes past the facts sla has not read.

Every command first fires what its ticket owes by the command's time (``fire_ticket``), then
applies itself. On the wall clock (production) that time is now, so a supervisor pausing a
clock, answering or issuing an order or deciding an extension of a ticket whose reply, dated
before its deadline, sits unread in a lagging partition (a backlog after an outage, a slow
consumer) would fire DeadlineMissed and the automatic supervision order (督办), which nothing
takes back. The timer rounds are held back by the same facts (watermark.wall_bound); a
command is bounded by its ticket's own lifecycle partition (``watermark.command_bound``): its
facts are there, in time order, so every unread one is at least as late as the upstream time
already read there.

So a command whose ticket owes something by its time asks how far that partition is read
(the broker's end offsets, the consumer's position and the time read there, under the
service lock), fires what is owed up to that bound, and if something is still owed by the
command's time it is refused, with nothing saved: 503 ``facts_pending`` and Retry-After (the
facts will be read; the same command then runs). A ticket that owes nothing by the command's
time (the common case) runs as before, without asking the broker. When the bound cannot be
known (the broker gives no end offsets, the partition has no recorded time yet) the command
is refused the same way, as the timer rounds hold. On the event clock nothing changes: the
command's time is the watermark or a stated business time, and the desk has no gate.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from psycopg_pool import ConnectionPool

from backbone.http import ClientError
from backbone.ownership import partition_of
from backbone.store import autocommit
from services.sla.adapters import watermark
from services.sla.application.app import Rules
from services.sla.application.firing import TicketBook, fire_ticket, first_owed

Ends = dict[tuple[str, int], int]

RETRY_AFTER_S = 5  # what a refused command's Retry-After says (a backlog is read in seconds)


class FactsPendingError(ClientError):
    """503: the ticket owes something that facts not read yet could prevent; nothing was
    done, retry (Retry-After). The detail names the partition and instants, no personal
    data."""

    status = 503
    code = "facts_pending"

    def __init__(self, detail: str, retry_after_s: int = RETRY_AFTER_S):
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class EndsNeeded(Exception):
    """The ticket owes something by the command's time: ask the broker for the lifecycle
    partitions' end offsets and run the command again with them (nothing was saved)."""


class CommandGate:
    """The bound of a command's ticket: its lifecycle partition read how far (wall clock)."""

    def __init__(self, *, pool: ConnectionPool, schema: str, consumer: str, topic: str):
        self.pool = pool
        self.schema = schema
        self.consumer = consumer
        self.topic = topic

    def bound(self, ticket_id: str, at: dt.datetime, ends: Ends | None) -> dt.datetime:
        """Under the service lock (no batch commits between the position and the time read).
        Raises EndsNeeded without ``ends``, FactsPendingError when the bound is unknown."""
        if ends is None:
            raise EndsNeeded
        partition = partition_of(str(ticket_id), len(ends))  # as the producers key it
        with autocommit(self.pool) as conn:
            times, applied = watermark.partition_state(conn, self.schema, self.consumer,
                                                       self.topic, partition)
        bound, why = watermark.command_bound(at, partition, times, applied, ends)
        if bound is None:
            raise FactsPendingError(f"the ticket's events are not all read yet: {why}")
        return bound


def fire_owed(rules: Rules, book: TicketBook, ticket_id: str, at: dt.datetime,
              bound: Callable[[], dt.datetime] | None) -> int:
    """Fires what the ticket owes by the command's time ``at``, never past ``bound()``
    (asked only when something is owed by ``at``; None: ``at`` itself, the event clock).
    Raises FactsPendingError when something owed by ``at`` lies past the bound."""
    if bound is None:
        return fire_ticket(rules, book, ticket_id, at)
    if first_owed(rules, book, ticket_id, at) is None:
        return 0  # nothing owed: nothing to fire, no bound to ask for
    limit = bound()
    if limit >= at:
        return fire_ticket(rules, book, ticket_id, at)
    fired = fire_ticket(rules, book, ticket_id, limit)
    held = first_owed(rules, book, ticket_id, at)
    if held is not None:
        raise FactsPendingError(
            f"the ticket's lifecycle partition has unread events, read up to"
            f" {limit.isoformat()}; what the ticket owed at {held.isoformat()} waits for"
            " them (one may prevent it): retry once they are read")
    return fired
