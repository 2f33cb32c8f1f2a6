"""Feedback's lifecycle events as a pure function of a stored event (a table, as data).

`lifecycle_envelope(pub, state_at=, notice_count=)` is what the relay publishes on the
lifecycle topic for one stored event. Facts not carried by an event (the unit, the channel)
come from the record's state AT that event's version (`state_at`, read from the store), so a
republished event says the same. `CitizenNotified` also says how many channel notices went
out (`notice_count`). No side effect, no collaborator beyond those read-only lookups: the
running relay (`entrypoints/publications.py`) and the audit's reconciliation, which
re-derives from the store exactly which envelopes feedback published, share this code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.application import Application
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import feedback_events_pb2 as fe

from backbone import auth
from backbone.relay import Publication
from services.feedback.adapters.registry import load_registry
from services.feedback.application.answers import CITY_TIME, AnswerComposer
from services.feedback.domain.answer import load_answer_templates
from services.feedback.settings import FeedbackSettings

StateAt = Callable[[Any], Any]  # stored event -> its aggregate as of that event's version
NoticeCount = Callable[[Any, Any], int]  # (record state, ReplyDelivered) -> notices sent


def timestamp_of(value: Any) -> Timestamp:
    stamp = Timestamp()
    if value is not None:
        stamp.FromDatetime(value)
    return stamp


@dataclass(frozen=True)
class Rule:
    """How one stored event type becomes its public payload."""

    make: Callable[[Any, Any], Any]  # (event, state at it) -> payload
    from_event: bool = False  # ticket id and code from the event (a follower's), not context


def _delivered(e: Any, s: Any, notices: int) -> fe.CitizenNotified:
    """ReplyDelivered, or DelayExplained (needs longer, an interim answer: no rating due,
    and no `rating_due_at` at all; `expected_by`, the day the unit expects it done, which
    the citizen's 我的诉求 shows with the explanation)."""
    due = getattr(e, "rating_due_at", None)
    expected = getattr(e, "expected_by", None)
    return fe.CitizenNotified(
        channel=s.channel, unit=e.unit_code, outcome=e.reply_outcome,
        reply_masked=e.reply_text, reply_round=e.reply_round,
        rating_due_at=timestamp_of(due) if due is not None else None, notices=notices,
        expected_by=expected.astimezone(CITY_TIME).date().isoformat() if expected else "")


RULES: dict[str, Rule] = {
    "TicketFeedback.TicketRated": Rule(lambda e, s: fe.TicketRated(
        rating=e.rating, comment_masked=e.comment, via=e.via, unit=s.unit_code,
        reply_round=e.reply_round)),
    "TicketFeedback.MarkedUnrated": Rule(lambda e, s: fe.TicketMarkedUnrated(
        unit=s.unit_code, reply_round=e.reply_round)),
    "TicketFeedback.CallbackRecorded": Rule(lambda e, s: fe.CallbackRecorded(
        reached=e.reached, resolved=bool(e.resolved), satisfaction=e.satisfaction or "",
        staff_id=e.staff_id, unit=s.unit_code, note_masked=e.note,
        reply_round=e.reply_round)),
    "TicketFeedback.TicketReopened": Rule(lambda e, s: fe.TicketReopened(
        reopen_count=e.reopen_count, reason=e.reason, unit=s.unit_code,
        confirmed_by=e.confirmed_by, staff_id=e.staff_id, reply_round=e.reply_round)),
    "TicketFeedback.EscalatedToSupervision": Rule(lambda e, s: fe.PushedToSupervision(
        follower_role="system", follower_id="feedback", reason=e.reason, unit=s.unit_code,
        channel="reopened", reopen_count=e.reopen_count)),
    "TicketFeedback.TicketClosed": Rule(lambda e, s: fe.TicketClosed(
        unit=s.unit_code, rating=e.verdict, reply_round=e.reply_round,
        reopen_count=s.reopen_count)),
    "Follower.RemarkAdded": Rule(lambda e, f: fe.RemarkAdded(
        follower_role=e.role, follower_id=f.follower_id, remark_masked=e.text,
        unit=e.unit_codes[0] if e.unit_codes else "", units=list(e.unit_codes)),
        from_event=True),
    "Follower.PushedToSupervision": Rule(lambda e, f: fe.PushedToSupervision(
        follower_role=f.role.value, follower_id=f.follower_id, reason=e.reason,
        unit=e.unit_codes[0] if e.unit_codes else "", channel=e.channel), from_event=True),
}
REPLY_DELIVERED = "TicketFeedback.ReplyDelivered"
DELAY_EXPLAINED = "TicketFeedback.DelayExplained"
# the stored events that tell the citizen something: CitizenNotified and the channel notices
NOTIFYING = frozenset({REPLY_DELIVERED, DELAY_EXPLAINED})


def is_public(event: Any) -> bool:
    """FeedbackOpened, follows, case links and the like stay inside."""
    name = type(event).__qualname__
    return name in NOTIFYING or name in RULES


def lifecycle_envelope(pub: Publication, *, state_at: StateAt,
                       notice_count: NoticeCount) -> Any | None:
    """The one lifecycle envelope of a stored event (id: event_id_for(aggregate, version)),
    or None for an event that stays inside."""
    e = pub.event
    name = type(e).__qualname__
    if name in NOTIFYING:
        state = state_at(e)
        return pub.envelope(_delivered(e, state, notice_count(state, e)))
    rule = RULES.get(name)
    if rule is None:
        return None
    payload = rule.make(e, state_at(e))
    if rule.from_event:
        return pub.envelope(payload, ticket_id=e.ticket_id, ticket_code=e.ticket_code)
    return pub.envelope(payload)


def state_reader(app: Application) -> StateAt:
    return lambda e: app.repository.get(e.originator_id, version=e.originator_version)


def lifecycle_from_store(app: Application) -> Callable[[Publication], list[Any]]:
    """The lifecycle translate rebuilt from feedback's store and its data files alone (the
    audit's reconciliation). The notices are composed only to be counted: how many a reply
    makes depends on the channel's templates, not on the link key or URL, so a throw-away
    key gives the same count without the audit ever holding feedback's."""
    fields = FeedbackSettings.model_fields
    composer = AnswerComposer(
        templates=load_answer_templates(),
        registry=load_registry(fields["unit_registry_path"].default,
                               fields["taxonomy_path"].default),
        link_issuer=auth.Issuer(kid=auth.RATING_LINK_KID_PREFIX + "reconciliation",
                                key=Ed25519PrivateKey.generate()),
        rating_url_base="http://reconciliation.invalid")
    state_at = state_reader(app)

    def translate(pub: Publication) -> list[Any]:
        env = lifecycle_envelope(pub, state_at=state_at,
                                 notice_count=lambda s, e: len(composer.notices(s, e)))
        return [] if env is None else [env]

    return translate
