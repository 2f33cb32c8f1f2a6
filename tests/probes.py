"""A stand-in aggregate for the backbone's own tests (outbox relay, consumer, group commit):
a ticket-keyed aggregate with two events, and a translate that publishes each as a
TicketAccepted on a test's topic."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event
from minsheng.v1 import intake_events_pb2

from backbone.relay import Outgoing, Publication


class Probe(Aggregate):
    @event("Opened")
    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id

    @event("Noted")
    def note(self) -> None:
        pass


def translate_to(topic: str):  # type: ignore[no-untyped-def]
    def translate(pub: Publication) -> list[Outgoing]:
        env = pub.envelope(intake_events_pb2.TicketAccepted(flags=["no_location"]))
        return [Outgoing(topic, env.ticket_id, env)]

    return translate
