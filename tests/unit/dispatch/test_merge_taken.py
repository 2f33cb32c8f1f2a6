"""并单 taken is said (CaseMergeTaken) for every merge dispatch takes, so feedback answers a
linked ticket with its case only once dispatch took the merge (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import envelope_pb2, intake_events_pb2

from backbone.clock import Clock
from backbone.consumer import UnitOfWork
from backbone.events import DecodedEvent
from services.dispatch.application.publishing import PAYLOADS
from services.dispatch.application.upstream import UpstreamFacts
from services.dispatch.domain.lifecycle import DispatchState
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
TICKET = "33333333-3333-4333-8333-333333333333"


def merged(d: TicketDispatch) -> list[Any]:
    """The payloads the relay publishes for the ticket's last MergedIntoCase."""
    [event] = [e for e in d.collect_events() if type(e).__name__ == "MergedIntoCase"][-1:]
    return [payload for payload, _ in PAYLOADS["MergedIntoCase"](event, d, lambda _: None)]


def test_every_merge_taken_is_said_with_the_withdrawal_first_when_a_unit_held_it():
    held = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-1", at=T0)
    held.assign(unit="power", by="router", at=T0, reason="r")
    held.merge_into_case(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0",
                         at=T0 + H, merge_event_id="m-1")
    withdrawn, taken = merged(held)
    assert type(withdrawn).__name__ == "AssignmentWithdrawn" and withdrawn.unit == "power"
    assert (type(taken).__name__, taken.case_id, taken.primary_ticket_id, taken.primary_code,
            taken.merge_event_id) == ("CaseMergeTaken", "c-1", "t-0", "FY-0", "m-1")
    queued = TicketDispatch.open(ticket_id="t-2", ticket_code="FY-2", at=T0)
    queued.merge_into_case(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0",
                           at=T0 + H, merge_event_id="m-2")
    [taken] = merged(queued)  # no unit held it: the take alone
    assert type(taken).__name__ == "CaseMergeTaken" and taken.merge_event_id == "m-2"


def test_a_merge_stored_before_takes_were_said_is_published_as_it_was():
    d = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-1", at=T0)
    d.assign(unit="power", by="router", at=T0, reason="r")
    d.merge_into_case(case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0", at=T0 + H,
                      merge_event_id="m-1")
    events = d.collect_events()
    stored = {k: v for k, v in vars(events[-1]).items() if k != "merge_event_id"}
    old = object.__new__(type(events[-1]))
    old.__dict__.update(stored)  # as the store gives back an event written without the field
    state = None
    for e in [*events[:-1], old]:
        state = e.mutate(state)
    assert state.following["case_id"] == "c-1"
    built = PAYLOADS["MergedIntoCase"](old, state, lambda _: None)
    assert [type(p).__name__ for p, _ in built] == ["AssignmentWithdrawn"]


def _missing(*_: Any, **__: Any) -> Any:
    raise AggregateNotFoundError("not stored")


def _merge_fact(event_id: str, at: datetime) -> DecodedEvent:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return DecodedEvent(
        envelope=envelope_pb2.Envelope(event_id=event_id, ticket_id=TICKET, ticket_code="FY-3",
                                       event_type="TicketMergedIntoCase", occurred_at=stamp),
        payload=intake_events_pb2.TicketMergedIntoCase(
            case_id="c-1", primary_ticket_id="t-0", primary_code="FY-0", confirmed=True))


def test_a_merge_of_a_ticket_dispatch_never_saw_is_taken_on_a_record_opened_for_it():
    # dispatch never saw the ticket accepted (retention, a dead letter): nothing stands against
    # the merge and no unit would answer the ticket otherwise; feedback must not wait forever
    facts = UpstreamFacts(router=None, clock=Clock("event"), policy=None,  # type: ignore[arg-type]
                          reopen_to_same_unit=False)
    uow = UnitOfWork(SimpleNamespace(repository=SimpleNamespace(get=_missing)))  # type: ignore[arg-type]
    facts.merged(_merge_fact("m-1", T0), uow)
    d = uow.get(TicketDispatch.create_id(TICKET))
    assert d is not None and d.following["case_id"] == "c-1"
    assert (d.state, d.ticket_code) == (DispatchState.AWAITING_DISPATCH, "FY-3")
    [taken] = merged(d)
    assert taken.merge_event_id == "m-1"
    facts.merged(_merge_fact("m-1", T0 + H), uow)  # a copy: taken once
    facts.merged(_merge_fact("m-2", T0 + H), uow)  # a confirmation: no second take
    assert not [e for e in d.collect_events() if type(e).__name__ == "MergedIntoCase"]
