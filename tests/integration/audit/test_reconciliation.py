"""Reconciliation: each service's published events against the ledger, both ways."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from minsheng.v1 import intake_events_pb2
from psycopg_pool import ConnectionPool

from backbone import events
from backbone.relay import OutboxRelay, Outgoing, Publication
from backbone.store import EventContext, application_env, ensure_database
from services.audit.application.reconciliation import Origin, reconcile, render
from tests.integration.audit.conftest import eventually

pytestmark = pytest.mark.integration


class Probe(Aggregate):
    @event("Opened")
    def __init__(self, ticket_id: str) -> None:
        self.ticket_id = ticket_id

    @event("Noted")  # private: the translate below never publishes it
    def note(self) -> None:
        pass


def translate_for(topic: str):  # type: ignore[no-untyped-def]
    def translate(pub: Publication) -> list[Outgoing]:
        if type(pub.event).__qualname__ != "Probe.Opened":
            return []
        env = pub.envelope(intake_events_pb2.TicketAccepted())
        return [Outgoing(topic, env.ticket_id, env)]

    return translate


def ledger_count(audit) -> int:  # type: ignore[no-untyped-def]
    with audit.client() as c:
        return len(c.get("/v1/ledger/entries", params={"limit": 5000}).json()["entries"])


async def test_published_missing_and_orphan_events_are_reported(audit, producer):
    unique = uuid.uuid4().hex[:10]
    probe_settings = audit.settings.model_copy(update={"service": "intake",
                                                       "pg_schema": f"probe_{unique}"})
    ensure_database(probe_settings)
    app = Application(env=application_env(probe_settings))
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(4)]
    for p in probes:
        p.note()
        app.save(p, context=EventContext(ticket_id=p.ticket_id, ticket_code="FY1"))
    pool = ConnectionPool(probe_settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    translate = translate_for(audit.settings.lifecycle_topic)
    relay = OutboxRelay(settings=probe_settings, app=app, pool=pool, translate=translate)
    assert await relay.run_once() == 4
    late = Probe(ticket_id=str(uuid.uuid4()))  # stored, but the relay never runs again
    app.save(late, context=EventContext(ticket_id=late.ticket_id, ticket_code="FY2"))
    orphan = events.make_envelope(payload=intake_events_pb2.TicketAccepted(),
                                  event_id=str(uuid.uuid4()), ticket_id=str(uuid.uuid4()),
                                  ticket_code="", producer="intake",
                                  occurred_at=events.utcnow())
    await producer.send_and_wait(audit.settings.lifecycle_topic, orphan.SerializeToString(),
                                 key=orphan.ticket_id.encode())
    eventually(lambda: ledger_count(audit) >= 5, what="the ledger")
    pool.close()

    origin = Origin("intake", probe_settings.schema,
                    lambda: Application(env={**application_env(probe_settings),
                                             "CREATE_TABLE": "n"}), translate)
    report = reconcile(audit.settings, [origin])
    intake = report["services"][0]
    assert (intake["stored_events"], intake["published"], intake["found_in_ledger"]) == (9, 5, 4)
    late_id = events.event_id_for(late.id, 1)
    assert intake["missing_event_ids"] == [late_id] and not report["ok"]
    assert [o["event_id"] for o in report["orphans"]] == [orphan.event_id]
    text = render(report)
    assert "missing 1" in text and orphan.event_id in text and "DISCREPANCIES" in text

    blind = reconcile(audit.settings, [Origin("intake", probe_settings.schema, origin.open_app)])
    b = blind["services"][0]
    assert (b["found_in_ledger"], b["not_in_ledger_private_or_missing"]) == (4, 5)
    app.close()
