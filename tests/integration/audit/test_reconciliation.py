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
from tests import janitor
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


def save(app: Application, probe: Probe, code: str, traced: bool) -> None:
    # half the probes carry a trace id; the relay draws a random one for the others
    app.save(probe, context=EventContext(ticket_id=probe.ticket_id, ticket_code=code,
                                         trace_id=uuid.uuid4().hex if traced else ""))


async def test_published_missing_differing_private_and_orphan_events_are_reported(
        audit, producer):
    unique = janitor.claim(uuid.uuid4().hex[:10])
    probe_settings = audit.settings.model_copy(update={"service": "intake",
                                                       "pg_schema": f"probe_{unique}"})
    ensure_database(probe_settings)
    app = Application(env=application_env(probe_settings))
    probes = [Probe(ticket_id=str(uuid.uuid4())) for _ in range(4)]
    for i, p in enumerate(probes):
        p.note()
        save(app, p, "FY1", traced=i < 2)
    pool = ConnectionPool(probe_settings.pg_conninfo(), min_size=1, max_size=2, open=True)
    translate = translate_for(audit.settings.lifecycle_topic)
    relay = OutboxRelay(settings=probe_settings, app=app, pool=pool, translate=translate)
    assert await relay.run_once() == 4
    late = Probe(ticket_id=str(uuid.uuid4()))  # stored, but the relay never runs again
    save(app, late, "FY2", traced=True)
    forged = Probe(ticket_id=str(uuid.uuid4()))  # stored; what reaches the ledger is not it
    save(app, forged, "FY3", traced=True)
    [(_, forged_env)] = [(o.topic, o.envelope) for o in translate(Publication(
        app.mapper.to_domain_event(app.recorder.select_notifications(
            start=app.recorder.max_notification_id(), limit=1)[0]),
        0, EventContext(ticket_id=forged.ticket_id, ticket_code="FY3-EDITED"), "intake"))]
    orphan = events.make_envelope(payload=intake_events_pb2.TicketAccepted(),
                                  event_id=str(uuid.uuid4()), ticket_id=str(uuid.uuid4()),
                                  ticket_code="FY-ORPHAN", producer="intake",
                                  occurred_at=events.utcnow())
    for env in (forged_env, orphan):
        await producer.send_and_wait(audit.settings.lifecycle_topic, env.SerializeToString(),
                                     key=env.ticket_id.encode())
    eventually(lambda: ledger_count(audit) >= 6, what="the ledger")
    pool.close()

    def lifecycle(_: Application):  # type: ignore[no-untyped-def]
        return lambda pub: [o.envelope for o in translate(pub)]

    origin = Origin("intake", probe_settings.schema,
                    lambda: Application(env={**application_env(probe_settings),
                                             "CREATE_TABLE": "n"}), lifecycle)
    report = reconcile(audit.settings, [origin])
    intake = report["services"][0]
    assert (intake["stored_events"], intake["expected_on_lifecycle_topic"],
            intake["found_in_ledger"]) == (10, 6, 5)
    assert intake["private_by_type"] == {"Probe.Noted": 4}
    late_id = events.event_id_for(late.id, 1)
    assert [(m["event_id"], m["ticket_code"], m["event_type"]) for m in intake["missing"]] == [
        (late_id, "FY2", "TicketAccepted")]
    assert [m["event_id"] for m in intake["differing"]] == [forged_env.event_id]
    assert [(o["event_id"], o["ticket_code"]) for o in report["orphans"]] == [
        (orphan.event_id, "FY-ORPHAN")]
    assert not report["ok"] and report["exact"]
    text = render(report)
    assert "missing 1" in text and orphan.event_id in text and "DISCREPANCIES" in text
    assert f"differs  FY3 TicketAccepted {forged_env.event_id}" in text

    blind = reconcile(audit.settings, [Origin("intake", probe_settings.schema, origin.open_app)])
    b = blind["services"][0]
    assert (b["found_in_ledger"], b["not_in_ledger_private_or_missing"]) == (5, 5)
    assert not blind["exact"] and "matched blindly" in render(blind)
    app.close()
