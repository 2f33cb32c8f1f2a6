"""The lifecycle translates the reconciliation re-runs (`lifecycle_from_store`) give exactly
the lifecycle envelopes the running relays' publishers give, byte for byte (in memory; the
e2e test checks the same against a real recorded run)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application

from backbone import auth
from backbone.relay import Publication
from backbone.settings import ServiceSettings
from backbone.store import EventContext
from services.dispatch.application import publishing as dispatch_publishing
from services.dispatch.application.units import UnitBook
from services.dispatch.domain.ticket_dispatch import TicketDispatch
from services.dispatch.entrypoints.publications import Publisher as DispatchPublisher
from services.feedback.adapters.registry import load_registry
from services.feedback.application import publishing as feedback_publishing
from services.feedback.application.answers import AnswerComposer
from services.feedback.domain.answer import load_answer_templates
from services.feedback.domain.policy import load_feedback_policy
from services.feedback.domain.rating import TicketFeedback
from services.feedback.entrypoints.publications import Publisher as FeedbackPublisher
from services.feedback.settings import FeedbackSettings
from services.sla.application import publishing as sla_publishing
from services.sla.domain.calendar import SHANGHAI, WorkingCalendar
from services.sla.domain.clock import TicketClock
from services.sla.domain.policy import load_policy
from services.sla.domain.supervision import SupervisionOrder
from services.sla.entrypoints.publications import translate_for as sla_translate_for

T0 = dt.datetime(2024, 11, 4, 10, 0, tzinfo=SHANGHAI)
LIFECYCLE = "p.tickets.events"


def stored(app: Application, producer: str) -> list[Publication]:
    ctx = EventContext(ticket_id="T-9", ticket_code="FY-9", trace_id="ab" * 16,
                       causation_id="c-1", actor_role="unit", actor_id="u-1")
    return [Publication(app.mapper.to_domain_event(n), n.id, ctx, producer)
            for n in app.recorder.select_notifications(start=1, limit=1000)]


def relay_bytes(pubs: list[Publication], translate: Any) -> list[bytes]:
    return [o.envelope.SerializeToString() for p in pubs for o in translate(p)
            if o.topic == LIFECYCLE]


def pure_bytes(pubs: list[Publication], translate: Any) -> list[bytes]:
    return [env.SerializeToString() for p in pubs for env in translate(p)]


def test_dispatch_pure_translate_equals_the_relay():
    app = Application()
    units = UnitBook(app)
    units.load()
    d = TicketDispatch.open(ticket_id="T-9", ticket_code="FY-9", at=T0)
    d.note_request(channel="web", title_masked="", text_masked="门口垃圾", category_hint="",
                   place={"county": "chengnan"}, at=T0)
    d.assign(unit="urban-mgmt", by="router", at=T0, reason="路由表v1")
    d.bounce_back(unit="urban-mgmt", reason="不在保洁范围", at=T0)
    d.coordinate(by="d-1", lead_unit="chengnan.sanqing", co_units=["urban-mgmt"],
                 decision="三清街道牵头", at=T0)
    app.save(d)
    pubs = stored(app, "dispatch")
    settings = ServiceSettings(service="dispatch", topic_prefix="p.")
    relay = relay_bytes(pubs, DispatchPublisher(settings, app, units).translate)
    pure = pure_bytes(pubs, dispatch_publishing.lifecycle_from_store(app))
    assert len(relay) == 5 and pure == relay


def test_sla_pure_translate_equals_the_relay():
    policy, calendar = load_policy(), WorkingCalendar()
    app = Application()
    clock = TicketClock.start(policy, calendar, ticket_id="T-9", clock_number=2,
                              grade="general", accepted_at=T0)
    clock.assign(policy, calendar, unit="yingzhou", at=T0 + dt.timedelta(minutes=30))
    clock.record_reply(at=T0 + dt.timedelta(days=1))
    order = SupervisionOrder.issue(policy, calendar, ticket_id="T-9", order_key="manual:1",
                                   unit="yingzhou", kind="manual", issued_by="s",
                                   reason="催办", at=T0 + dt.timedelta(hours=2))
    order.answer_order(unit="yingzhou", text="已办", at=T0 + dt.timedelta(hours=3))
    app.save(clock, order)

    class ReadModelFacts:  # what the relay's Facts reads from sla_clocks / sla_orders
        def clock_no(self, _: Any) -> int:
            return 2

        def order_unit(self, _: Any) -> str:
            return "yingzhou"

    pubs = stored(app, "sla")
    settings = ServiceSettings(service="sla", topic_prefix="p.")
    relay = relay_bytes(pubs, sla_translate_for(settings, ReadModelFacts(),  # type: ignore[arg-type]
                                                policy.version))
    pure = pure_bytes(pubs, sla_publishing.lifecycle_from_store(app))
    assert len(relay) >= 4 and pure == relay


def test_feedback_pure_translate_equals_the_relay_with_another_link_key():
    app = Application()
    fb = TicketFeedback.open(ticket_id="T-9", ticket_code="FY-9", citizen_ids=["p-1"],
                             channel="web", category="environment",
                             policy=load_feedback_policy(), at=T0)
    fb.deliver_reply(unit_code="yingzhou", reply_outcome="resolved", delivered_at=T0,
                     reply_text="已清运。")
    fb.rate(citizen_id="p-1", rating="satisfied", at=T0 + dt.timedelta(hours=1))
    fb.close(at=T0 + dt.timedelta(hours=2))
    app.save(fb)
    fields = FeedbackSettings.model_fields
    composer = AnswerComposer(
        templates=load_answer_templates(),
        registry=load_registry(fields["unit_registry_path"].default,
                               fields["taxonomy_path"].default),
        link_issuer=auth.Issuer(kid="rating-link-running", key=Ed25519PrivateKey.generate()),
        rating_url_base="https://x")
    publisher = FeedbackPublisher(app=app, composer=composer, lifecycle_topic=LIFECYCLE,
                                  notices_topic="p.citizen.notices")
    pubs = stored(app, "feedback")
    relay = relay_bytes(pubs, publisher.translate)
    pure = pure_bytes(pubs, feedback_publishing.lifecycle_from_store(app))
    assert len(relay) == 3 and pure == relay
    assert any(o.topic == "p.citizen.notices" for p in pubs for o in publisher.translate(p))
