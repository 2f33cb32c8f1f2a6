"""The audit's reconciliation re-derives feedback's envelopes from its store: a needs-longer
notice (DelayExplained) is published as the relay published it (CitizenNotified, counted
notices, no rating due), and its channel notices carry no rating token."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from minsheng.v1 import envelope_pb2, feedback_events_pb2

from backbone import auth
from services.feedback.adapters.registry import load_registry
from services.feedback.application import publishing as feedback_publishing
from services.feedback.application.answers import AnswerComposer
from services.feedback.domain.answer import load_answer_templates
from services.feedback.domain.policy import load_feedback_policy
from services.feedback.domain.rating import TicketFeedback
from services.feedback.entrypoints.publications import Publisher as FeedbackPublisher
from services.feedback.settings import FeedbackSettings
from tests.unit.audit.test_lifecycle_translates import (
    LIFECYCLE,
    T0,
    pure_bytes,
    relay_bytes,
    stored,
)


def test_a_needs_longer_notice_reconciles_and_asks_for_no_rating():
    app = Application()
    fb = TicketFeedback.open(ticket_id="T-9", ticket_code="FY-9", citizen_ids=["p-1"],
                             channel="hotline_12345", category="environment",
                             policy=load_feedback_policy(), at=T0)
    fb.explain_delay(unit_code="yingzhou", delivered_at=T0, reply_text="需协调施工。",
                     expected_by=T0 + dt.timedelta(days=20))
    fb.deliver_reply(unit_code="yingzhou", reply_outcome="resolved",
                     delivered_at=T0 + dt.timedelta(days=9), reply_text="已修复。")
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
    assert pure_bytes(pubs, feedback_publishing.lifecycle_from_store(app)) == relay
    told = []
    for raw in relay:
        env = envelope_pb2.Envelope.FromString(raw)
        fact = feedback_events_pb2.CitizenNotified()
        fact.ParseFromString(env.payload)
        told.append(fact)
    interim, final = told
    assert (interim.outcome, interim.reply_round, interim.notices) == ("needs_longer", 0, 1)
    assert not interim.HasField("rating_due_at") and final.HasField("rating_due_at")
    notices = [o.envelope for p in pubs[1:2] for o in publisher.translate(p)
               if o.topic == "p.citizen.notices"]
    assert notices and all(not n.message.rating_token for n in notices)
