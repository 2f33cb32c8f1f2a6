"""TicketSubmitted and TicketAccepted of one ticket in one consumer batch (intake accepts in
the save that submits): the facts go straight into the dispatch, no SubmittedRequest is
stored; apart, the SubmittedRequest carries them from one batch to the next as before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from minsheng.v1 import common_pb2, intake_events_pb2

from backbone import events
from backbone.clock import Clock
from backbone.consumer import UnitOfWork
from services.dispatch.application.app import DispatchApplication
from services.dispatch.application.routing import Router
from services.dispatch.application.units import UnitBook
from services.dispatch.application.upstream import UpstreamFacts
from services.dispatch.domain.lifecycle import DispatchPolicy
from services.dispatch.domain.submission import SubmittedRequest
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
TEXT = "颍州区清河路路灯不亮好几天了，晚上走路很危险"


@pytest.fixture(scope="module")
def facts() -> UpstreamFacts:
    app = DispatchApplication()
    units = UnitBook(app)
    units.load()
    return UpstreamFacts(router=Router.build(units=units, routing_version=2), clock=Clock("event"),
                         policy=DispatchPolicy(sign_for_within=timedelta(hours=2),
                                               bounce_back_within=timedelta(hours=24)),
                         reopen_to_same_unit=True)


def decoded(ticket_id: str, payload) -> events.DecodedEvent:
    env = events.make_envelope(payload=payload, event_id=str(uuid.uuid4()), ticket_id=ticket_id,
                               ticket_code="FY-" + ticket_id[:8], producer="intake",
                               occurred_at=T0, actor=events.actor("channel_adapter"))
    return events.decode(env.SerializeToString())


def submitted(ticket_id: str) -> events.DecodedEvent:
    return decoded(ticket_id, intake_events_pb2.TicketSubmitted(
        channel="wechat_mini", text_masked=TEXT,
        place=common_pb2.Place(address_masked="颍州区清河路")))


def apply(facts: UpstreamFacts, batch: list[events.DecodedEvent]) -> UnitOfWork:
    uow = UnitOfWork(DispatchApplication())
    uow.batch = batch
    handlers = {"TicketSubmitted": facts.submitted, "TicketAccepted": facts.accepted}
    for d in batch:
        handlers[d.event_type](d, uow)
    return uow


def test_submitted_and_accepted_in_one_batch_store_no_submitted_request(facts):
    ticket_id = str(uuid.uuid4())
    uow = apply(facts, [submitted(ticket_id),
                        decoded(ticket_id, intake_events_pb2.TicketAccepted())])
    assert SubmittedRequest.create_id(ticket_id) not in uow.aggregates
    dispatch: TicketDispatch = uow.aggregates[TicketDispatch.create_id(ticket_id)]
    assert dispatch.request["text_masked"] == TEXT
    assert dispatch.request["place"]["county"]  # located as before
    assert dispatch.classification is not None


def test_submitted_alone_keeps_its_facts_for_a_later_batch(facts):
    ticket_id = str(uuid.uuid4())
    other = str(uuid.uuid4())
    uow = apply(facts, [submitted(ticket_id),
                        decoded(other, intake_events_pb2.TicketAccepted())])
    kept = uow.aggregates[SubmittedRequest.create_id(ticket_id)]
    assert kept.text_masked == TEXT
    later = UnitOfWork(DispatchApplication())
    later.aggregates[kept.id] = kept  # as the store would give it back
    later.batch = [decoded(ticket_id, intake_events_pb2.TicketAccepted())]
    facts.accepted(later.batch[0], later)
    assert later.aggregates[TicketDispatch.create_id(ticket_id)].request["text_masked"] == TEXT
