"""Which stored dispatch events become public events, on which topics (in memory)."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.application import Application

from backbone import events
from backbone.relay import Publication
from backbone.settings import ServiceSettings
from backbone.store import EventContext
from services.dispatch.application.units import UnitBook
from services.dispatch.domain.ticket_dispatch import TicketDispatch
from services.dispatch.entrypoints.publications import Publisher

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def publish_all(app: Application, publisher: Publisher, start: int = 0):
    out = []
    for note in app.recorder.select_notifications(start=start + 1, limit=1000):
        event = app.mapper.to_domain_event(note)
        out.extend(publisher.translate(Publication(event, note.id, EventContext(), "dispatch")))
    return out


def test_coordination_publishes_the_decision_and_an_assignment_per_unit_lead_last():
    app = Application()
    units = UnitBook(app)
    units.load()
    start = app.recorder.max_notification_id()
    settings = ServiceSettings(service="dispatch", topic_prefix="p.")
    d = TicketDispatch.open(ticket_id="t-1", ticket_code="FY-1", at=T0)
    d.note_request(channel="web", title_masked="", text_masked="门口垃圾+13812345678",
                   category_hint="", place={"county": "chengnan"}, at=T0)
    d.assign(unit="urban-mgmt", by="router", at=T0, reason="路由表v1")
    d.bounce_back(unit="urban-mgmt", reason="不在保洁范围", at=T0)
    d.coordinate(by="d-1", lead_unit="chengnan.sanqing", co_units=["urban-mgmt"],
                 decision="三清街道牵头", at=T0)
    app.save(d)
    out = publish_all(app, Publisher(settings, app, units), start)
    decoded = [(o.topic, events.decode(o.envelope.SerializeToString())) for o in out]
    lifecycle = [e for t, e in decoded if t == "p.tickets.events"]
    assert [e.event_type for e in lifecycle] == [
        "TicketAssigned", "AssignmentBouncedBack", "CoordinationDecided", "TicketAssigned",
        "TicketAssigned"]
    assert [(e.payload.unit, e.payload.role, e.payload.assignment_no)
            for e in lifecycle if e.event_type == "TicketAssigned"] == [
        ("urban-mgmt", "lead", 1), ("urban-mgmt", "co_handling", 2),
        ("chengnan.sanqing", "lead", 2)]
    lead = lifecycle[-1].payload
    assert (lead.unit_kind, lead.parent_unit, lead.county) == ("subdistrict", "chengnan",
                                                               "chengnan")
    assert {t for t, _ in decoded} == {"p.tickets.events", "p.assignments.urban-mgmt",
                                       "p.assignments.chengnan.sanqing"}
    assert len({e.event_id for _, e in decoded}) == len(lifecycle)  # copies share their ids
    assert all(e.occurred_at == T0 for _, e in decoded)  # business time, not the write time
