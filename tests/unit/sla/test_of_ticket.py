"""The unit of work's aggregates of one ticket (sla.application.firing.of_ticket): the same
aggregates, in the same order, as a scan of the whole unit of work, as it grows."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from services.sla.application.firing import of_ticket


def _aggregate(ticket: str | None) -> SimpleNamespace:
    a = SimpleNamespace(id=uuid.uuid4())
    if ticket is not None:
        a.ticket_id = ticket
    return a


def _scan(uow: SimpleNamespace, ticket: str) -> list:
    return [a for a in uow.aggregates.values() if getattr(a, "ticket_id", None) == ticket]


def test_of_ticket_equals_a_scan_as_the_unit_of_work_grows():
    uow = SimpleNamespace(aggregates={})
    tickets = ["t1", "t2", "t3"]
    for n in range(30):
        a = _aggregate(tickets[n % 3] if n % 7 else None)  # some without a ticket
        uow.aggregates[a.id] = a
        if n % 4 == 0:
            for t in tickets:
                assert of_ticket(uow, t) == _scan(uow, t)
    replaced = _scan(uow, "t2")[1]
    again = SimpleNamespace(id=replaced.id, ticket_id="t2")
    uow.aggregates[replaced.id] = again  # the same id, another object: the current one
    assert of_ticket(uow, "t2") == _scan(uow, "t2") and again in of_ticket(uow, "t2")
    assert of_ticket(uow, "nobody") == []
    uow.aggregates = {}  # a new batch's (smaller) unit of work: the index starts again
    a = _aggregate("t1")
    uow.aggregates[a.id] = a
    assert of_ticket(uow, "t1") == [a]
