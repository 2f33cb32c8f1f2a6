"""Upstream events -> analytics facts: one table, event type -> what to keep.

Only masked text ever reaches analytics (intake masks it before publishing); we keep the
masked text for hot topics, never a pseudonym or contact.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1.envelope_pb2 import Envelope

from backbone import events
from backbone.events import DecodedEvent
from services.analytics.domain.facts import KIND_RANK, Fact, trusted_fact
from services.analytics.domain.ticket_map import snap


def _submitted(p: Any) -> tuple[str, dict[str, Any]]:
    place = p.place
    attrs = {"channel": p.channel, "text": p.text_masked, "category_hint": p.category_hint,
             "county": place.county, "address": place.address_masked}
    if place.has_point:  # snapped to the map grid: analytics never keeps a citizen's point
        point = place.point
        attrs |= {"lon": snap(point.lon), "lat": snap(point.lat)}
    return "submitted", attrs


def _assigned(p: Any) -> tuple[str, dict[str, Any]]:
    return "assigned", {
        "unit": p.unit, "unit_kind": p.unit_kind, "parent_unit": p.parent_unit,
        "category": p.category, "subcategory": p.subcategory, "county": p.county,
        "urgency": p.urgency, "assignment_no": p.assignment_no, "channel": p.channel,
        "role": p.role}


def _queued(p: Any) -> tuple[str, dict[str, Any]]:
    # Where dispatch found the request, also when a dispatcher must decide who handles it: a
    # ticket waiting in the queue is counted in its county, not under 未知.
    return "queued", {"county": p.county, "category": p.category,
                      "subcategory": p.subcategory, "queue": p.queue}


def _unit_step(kind: str) -> Callable[[Any], tuple[str, dict[str, Any]]]:
    return lambda p: (kind, {"unit": p.unit, "assignment_no": p.assignment_no})


def _callback(p: Any) -> tuple[str, dict[str, Any]]:
    return "callback", {"unit": p.unit, "reached": p.reached, "satisfaction": p.satisfaction}


NORMALISERS: dict[str, Callable[[Any], tuple[str, dict[str, Any]]]] = {
    "TicketSubmitted": _submitted,
    "TicketAccepted": lambda p: ("accepted", {}),
    # 解惑: answered during the call instead of accepted; taken and answered all the same (it
    # is closed once rated or its window ends, so it must count where the closed ones do)
    "TicketAnsweredOnSpot": lambda p: ("accepted", {"on_spot": True}),
    "TicketRejected": lambda p: ("rejected", {"reason_code": p.reason_code}),
    "TicketQueuedForDispatcher": _queued,
    "TicketAssigned": _assigned,
    "AssignmentTransferred": lambda p: ("transferred", {
        "unit": p.to_unit, "from_unit": p.from_unit, "assignment_no": p.assignment_no}),
    "CoordinationDecided": lambda p: ("coordinated", {
        "lead_unit": p.lead_unit, "co_units": list(p.co_units),
        "assignment_no": p.assignment_no}),
    "AssignmentSignedFor": _unit_step("signed_for"),
    "AssignmentBouncedBack": _unit_step("bounced_back"),
    # 并单: the unit no longer handles the ticket (it follows its case's primary ticket)
    "AssignmentWithdrawn": _unit_step("withdrawn"),
    "AssignmentReplied": lambda p: ("replied", {
        "unit": p.unit, "assignment_no": p.assignment_no, "outcome": p.outcome}),
    "ReplyReviewed": lambda p: ("reply_reviewed", {
        "unit": p.unit, "assignment_no": p.assignment_no, "accepted": p.accepted}),
    "DeadlineMet": lambda p: ("deadline_met", {"unit": p.unit, "clock_no": p.clock_no}),
    "DeadlineMissed": lambda p: ("deadline_missed", {"unit": p.unit, "clock_no": p.clock_no}),
    "TicketRated": lambda p: ("rated", {"unit": p.unit, "rating": p.rating}),
    "TicketMarkedUnrated": lambda p: ("unrated", {"unit": p.unit, "rating": "unrated"}),
    "CallbackRecorded": _callback,
    "TicketReopened": lambda p: ("reopened", {"unit": p.unit,
                                              "reopen_count": p.reopen_count}),
    "TicketClosed": lambda p: ("closed", {"unit": p.unit, "rating": p.rating}),
}

VERDICTS = {"satisfied", "basically_satisfied", "dissatisfied"}
RATINGS = VERDICTS | {"unrated"}


class UnusableFactError(ValueError):
    """An event analytics understands the type of, but whose content it cannot count."""


def fact_of(decoded: DecodedEvent) -> Fact | None:
    """The fact an event gives, or None for event types analytics does not count."""
    return fact_of_parts(decoded.envelope, decoded.payload)


def fact_of_parts(env: Envelope, payload: Any) -> Fact | None:
    """:func:`fact_of` of an envelope and its payload (backbone.events.decode_parts)."""
    normalise = NORMALISERS.get(env.event_type)
    if normalise is None:
        return None
    kind, attrs = normalise(payload)
    _check(kind, attrs)
    return Fact(env.event_id, env.ticket_id, kind, occurred_at(env.occurred_at), attrs)


CALLBACK_OUTCOMES = VERDICTS | {""}


def _check(kind: str, attrs: dict[str, Any]) -> None:
    if kind in ("rated", "unrated") and attrs["rating"] not in RATINGS:
        raise UnusableFactError(f"unknown rating {attrs['rating']!r}")
    if kind == "callback" and attrs["reached"] and attrs["satisfaction"] not in CALLBACK_OUTCOMES:
        raise UnusableFactError(f"unknown callback satisfaction {attrs['satisfaction']!r}")


@cache
def _types() -> dict[str, tuple[str, Callable[[bytes], Any], Any]]:
    """Event type -> (its owner, its payload's parser, its normaliser or None when analytics
    does not count it): what decode_parts and fact_of_parts look up per event, looked up once."""
    return {name: (kind.owner, kind.message_class.FromString, NORMALISERS.get(name))
            for name, kind in events.catalogue().items()}


def fact_of_raw(raw: bytes) -> Fact | None:
    """``fact_of_parts(*backbone.events.decode_parts(raw))`` in one step, for a loop over many
    envelopes (a rebuild): the same checks in the same order, the same errors (EnvelopeError
    subclasses, UnusableFactError), the same Fact; without the per-event look-ups and calls
    between them (the catalogue, an empty payload then its parse, Fact's __init__ checks).
    What depends on the type only is looked up once per type (`_types`, kept in `_TYPES`),
    and `_check` is called for the kinds it checks only (a call less a fact each)."""
    try:
        env = _parse_envelope(raw)
    except DecodeError as exc:
        raise events.UndecodableEventError(f"not an Envelope: {exc}") from exc
    event_id, event_type, ticket_id = env.event_id, env.event_type, env.ticket_id
    if not event_id or not event_type or not ticket_id:
        raise events.UndecodableEventError("envelope lacks event_id, event_type or ticket_id")
    if env.schema_version > _SCHEMA_VERSION:
        raise events.UndecodableEventError(
            f"schema version {env.schema_version} is newer than ours")
    known = (_TYPES or _load_types()).get(event_type)
    if known is None:
        raise events.UnknownEventTypeError(f"unknown event type {event_type!r}")
    owner, parse, normalise = known
    if env.producer != owner:
        raise events.WrongProducerError(
            f"{event_type} must come from {owner}, envelope names {env.producer!r}")
    try:
        payload = parse(env.payload)
    except DecodeError as exc:
        raise events.UndecodableEventError(f"payload is not a {event_type}: {exc}") from exc
    if normalise is None:
        return None
    kind, attrs = normalise(payload)
    if kind in _CHECKED:
        _check(kind, attrs)
    at = occurred_at(env.occurred_at)
    if kind not in KIND_RANK:  # Fact's own check refuses it (the time is aware, UTC)
        return Fact(event_id, ticket_id, kind, at, attrs)
    return trusted_fact(event_id, ticket_id, kind, at, attrs)


_parse_envelope = Envelope.FromString
_SCHEMA_VERSION = events.SCHEMA_VERSION
_CHECKED = frozenset(("rated", "unrated", "callback"))  # the kinds `_check` looks at
# `_types()`, once loaded (a dict look-up a fact instead of a call to the cache)
_TYPES: dict[str, tuple[str, Callable[[bytes], Any], Any]] = {}


def _load_types() -> dict[str, tuple[str, Callable[[bytes], Any], Any]]:
    _TYPES.update(_types())
    return _TYPES


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def occurred_at(ts: Timestamp) -> datetime:
    """What `ts.ToDatetime(tzinfo=UTC)` gives (microseconds, rounded toward zero), without its
    checks and time-zone conversion for a valid timestamp (the common case: they took a third
    of the time of normalising an event)."""
    nanos = ts.nanos
    if 0 <= nanos < 1_000_000_000:
        return EPOCH + timedelta(0, ts.seconds, nanos // 1000)
    return ts.ToDatetime(tzinfo=UTC)  # raises the protobuf's own error
