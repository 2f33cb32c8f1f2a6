"""Dispatch's lifecycle events as a pure function of a stored event (a table, as data).

`lifecycle_events(pub, state_after=, unit=)` is what the relay publishes on the lifecycle
topic for one stored event, and which units' topics get a copy. It has no side effect and
needs only read-only lookups that the service's own store can rebuild: the ticket's state as
that event left it, and the unit registry. So the running relay
(`entrypoints/publications.py`) and the audit's reconciliation, which re-derives from the
store exactly which envelopes dispatch published, share one piece of code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from minsheng.v1 import common_pb2
from minsheng.v1 import dispatch_events_pb2 as pb

from backbone import events
from backbone.privacy import mask_personal_data
from backbone.relay import Publication
from services.dispatch.application.projection import event_time
from services.dispatch.domain.ticket_dispatch import TicketDispatch
from services.dispatch.domain.units import Unit, UnitDirectory

UnitLookup = Callable[[str], Unit | None]  # a unit code -> the registered unit, if any
StateAfter = Callable[[Any], TicketDispatch]  # a stored event -> the ticket as it left it
# payload builder: (event, state after it, units) -> [(payload, extra unit topics)]
Built = list[tuple[Any, list[str]]]


@dataclass(frozen=True)
class Published:
    """One lifecycle envelope, and the units whose `assignments.<unit>` topic gets it too."""

    envelope: Any  # envelope_pb2.Envelope
    unit_topics: list[str]


class StateFollower:
    """The state of each TicketDispatch as of the event being published (a small LRU).

    Reads the store only when it meets an aggregate it has not followed from a later event
    than its first (e.g. after a restart); otherwise advances the cached state event by event.
    A new aggregate's first event makes its state without a read (was one read per ticket)."""

    def __init__(self, app: Application, size: int = 2000) -> None:
        self.app = app
        self.size = size
        self.cache: OrderedDict[Any, TicketDispatch] = OrderedDict()

    def after(self, event: Any) -> TicketDispatch:
        oid, version = event.originator_id, event.originator_version
        known = self.cache.get(oid)
        if known is not None and known.version == version - 1:
            event.mutate(known)
            state = known
        elif known is not None and known.version == version:
            state = known
        elif version == 1:  # the creation event: the state is made of it alone
            state = event.mutate(None)
        else:
            state = self.app.repository.get(oid, version=version)
        self.cache[oid] = state
        self.cache.move_to_end(oid)
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return state


def is_ticket_event(event: Any) -> bool:
    """The unit directory, submissions and idempotency keys stay inside."""
    return type(event).__qualname__.startswith(("DispatchRecord.", "TicketDispatch."))


def lifecycle_events(pub: Publication, *, state_after: StateAfter,
                     unit: UnitLookup) -> list[Published]:
    """The lifecycle envelopes of one stored event (ids: event_id_for(aggregate, version, n))."""
    event = pub.event
    if not is_ticket_event(event):
        return []
    state = state_after(event)
    build = PAYLOADS.get(type(event).__name__)
    if build is None:
        return []
    ctx = pub.context
    out = []
    for n, (payload, unit_topics) in enumerate(build(event, state, unit)):
        env = events.make_envelope(
            payload=payload,
            event_id=events.event_id_for(event.originator_id, event.originator_version, n),
            ticket_id=state.ticket_id, ticket_code=state.ticket_code,
            producer=pub.producer, occurred_at=event_time(event),
            actor=events.actor(ctx.actor_role, ctx.actor_id, ctx.actor_unit),
            causation_id=ctx.causation_id, trace_id=ctx.trace_id)
        out.append(Published(env, list(dict.fromkeys(unit_topics))))
    return out


def lifecycle_from_store(app: Application) -> Callable[[Publication], list[Any]]:
    """The lifecycle translate rebuilt from dispatch's store alone (read only): the audit's
    reconciliation uses it without dispatch's process, Kafka or network. The unit registry is
    the directory as stored now; the relay used the one it had loaded (the same, unless a
    unit's kind or parent changed since: then only `unit_kind`/`parent_unit` differ)."""
    try:
        directory: UnitDirectory = app.repository.get(UnitDirectory.create_id())
        units = dict(directory.registry.units)
    except AggregateNotFoundError:
        units = {}
    follower = StateFollower(app)

    def translate(pub: Publication) -> list[Any]:
        return [p.envelope for p in lifecycle_events(pub, state_after=follower.after,
                                                     unit=units.get)]

    return translate


# --- payloads ---

def ticket_assigned(d: TicketDispatch, unit: UnitLookup, code: str, role: str, rule: str,
                    confidence: float) -> pb.TicketAssigned:
    c = d.classification or {}
    req = d.request or {}
    place = req.get("place") or {}
    known = unit(code)
    return pb.TicketAssigned(
        unit=code, unit_kind=known.kind.value if known else "",
        parent_unit=(known.parent or "") if known else "",
        category=c.get("category", ""), subcategory=c.get("subcategory", ""),
        request_type=c.get("request_type", ""), urgency=c.get("urgency", ""),
        county=place.get("county") or "", subdistrict=place.get("subdistrict") or "",
        role=role, title_masked=req.get("title_masked", ""),
        text_masked=req.get("text_masked", ""), channel=req.get("channel", ""),
        place=common_pb2.Place(county=place.get("county") or "",
                               subdistrict=place.get("subdistrict") or "",
                               address_masked=place.get("address_masked") or "",
                               outside_city=bool(place.get("outside_city"))),
        rule=rule, confidence=confidence, assignment_no=d.assignment_no,
        territory_confidence=float(place.get("territory_confidence") or 0.0),
        territory_reasons=list(place.get("territory_reasons") or ()))


def assigned(e: Any, d: TicketDispatch, unit: UnitLookup) -> Built:
    confidence = (d.classification or {}).get("confidence", 0.0) if e.by == "router" else 1.0
    return [(ticket_assigned(d, unit, e.unit, "lead", e.reason, confidence), [e.unit])]


def coordinated(e: Any, d: TicketDispatch, unit: UnitLookup) -> Built:
    rule = f"统筹协调：{e.decision}"
    decided = pb.CoordinationDecided(lead_unit=e.lead_unit, co_units=list(e.co_units),
                                     decision=e.decision, decided_by=e.by,
                                     assignment_no=d.assignment_no)
    # The lead's TicketAssigned comes last, so "the latest TicketAssigned" names the holder.
    co = [(ticket_assigned(d, unit, u, "co_handling", rule, 1.0), [u]) for u in e.co_units]
    return [(decided, [e.lead_unit, *e.co_units]), *co,
            (ticket_assigned(d, unit, e.lead_unit, "lead", rule, 1.0), [e.lead_unit])]


def transferred(e: Any, d: TicketDispatch, unit: UnitLookup) -> Built:
    moved = pb.AssignmentTransferred(from_unit=e.from_unit or "", to_unit=e.to_unit,
                                     assignment_no=d.assignment_no, reason=e.reason,
                                     decided_by=e.by)
    rule = f"转办：{e.reason}"
    return [(moved, [e.from_unit] if e.from_unit else []),
            (ticket_assigned(d, unit, e.to_unit, "lead", rule, 1.0), [e.to_unit])]


def transfer_rejected(e: Any, d: TicketDispatch, _: UnitLookup) -> Built:
    holder = d.assignee or ""
    return [(pb.TransferRejected(unit=holder, reason=e.reason, decided_by=e.by,
                                 assignment_no=d.assignment_no), [holder] if holder else [])]


def queued(e: Any, d: TicketDispatch, _: UnitLookup) -> Built:
    c = d.classification or {}
    place = (d.request or {}).get("place") or {}
    return [(pb.TicketQueuedForDispatcher(
        reason=e.reason, suggested_unit=e.suggested_unit or "", confidence=e.confidence,
        queue=e.queue, category=c.get("category", ""), subcategory=c.get("subcategory", ""),
        request_type=c.get("request_type", ""), urgency=c.get("urgency", ""),
        county=place.get("county") or "", subdistrict=place.get("subdistrict") or "",
        territory_confidence=float(place.get("territory_confidence") or 0.0),
        territory_reasons=list(place.get("territory_reasons") or ())), [])]


def merged(e: Any, d: TicketDispatch, _: UnitLookup) -> Built:
    """并单 taken: AssignmentWithdrawn when a unit held the ticket (first, so its id is the
    one it always had), then CaseMergeTaken. A merge stored before takes were said has no
    `merge_event_id` and was published without one: not now either (the audit's
    reconciliation derives the same)."""
    out: Built = []
    if d.withdrawn_from:
        out.append((pb.AssignmentWithdrawn(
            unit=d.withdrawn_from, assignment_no=d.assignment_no,
            reason=f"并单：随主诉求{e.primary_code}办理", case_id=e.case_id,
            primary_ticket_id=e.primary_ticket_id), [d.withdrawn_from]))
    if "merge_event_id" in vars(e):
        out.append((pb.CaseMergeTaken(
            case_id=e.case_id, primary_ticket_id=e.primary_ticket_id,
            primary_code=e.primary_code, merge_event_id=e.merge_event_id), []))
    return out


def reviewed(d: TicketDispatch, by: str, accepted: bool, reason: str,
             interim: bool = False) -> pb.ReplyReviewed:
    return pb.ReplyReviewed(unit=d.replied_by or d.assignee or "",
                            assignment_no=d.assignment_no, accepted=accepted, reason=reason,
                            reply_masked=mask_personal_data(d.reply_text or ""),
                            outcome=d.reply_outcome or "", reviewed_by=by, interim=interim,
                            expected_by=d.expected_by or "")


def _one(make: Callable[[Any, TicketDispatch], Any]
         ) -> Callable[[Any, TicketDispatch, UnitLookup], Built]:
    """A builder of one payload that goes to the lifecycle topic only."""
    return lambda e, d, _: [(make(e, d), [])]


def reclassified(e: Any, d: TicketDispatch, _: UnitLookup) -> Built:
    """A dispatcher's classification (the model's goes out with TicketAssigned / Queued).
    A Classified stored before TicketReclassified existed has no `working_days` and was not
    published then: it is not now either (the audit's reconciliation derives the same)."""
    if e.source != "dispatcher" or "working_days" not in vars(e):
        return []
    return [(pb.TicketReclassified(
        category=e.category, subcategory=e.subcategory, request_type=e.request_type,
        urgency=e.urgency, working_days=e.working_days, reclassified_by=e.by), [])]


PAYLOADS: dict[str, Callable[[Any, TicketDispatch, UnitLookup], Built]] = {
    "Classified": reclassified,
    "QueuedForDispatcher": queued,
    "Assigned": assigned,
    "Coordinated": coordinated,
    "Transferred": transferred,
    "TransferRequested": _one(lambda e, d: pb.TransferRequested(
        unit=e.unit, to_unit=e.to_unit, reason=e.reason, assignment_no=d.assignment_no)),
    "TransferRejected": transfer_rejected,
    "SignedFor": _one(lambda e, d: pb.AssignmentSignedFor(
        unit=e.unit, assignment_no=d.assignment_no)),
    "BouncedBack": _one(lambda e, d: pb.AssignmentBouncedBack(
        unit=e.unit, assignment_no=d.assignment_no, reason=e.reason)),
    "ProgressNoted": _one(lambda e, d: pb.AssignmentProgressNoted(
        unit=e.unit, assignment_no=d.assignment_no, note_masked=mask_personal_data(e.note))),
    "Replied": _one(lambda e, d: pb.AssignmentReplied(
        unit=e.unit, assignment_no=d.assignment_no, reply_masked=mask_personal_data(e.reply),
        outcome=e.outcome, expected_by=getattr(e, "expected_by", None) or "")),
    "ReplyAccepted": _one(lambda e, d: reviewed(d, e.by, True, e.comment,
                                                getattr(e, "interim", False))),
    "ReplySentBack": lambda e, d, _: [(reviewed(d, e.by, False, e.reason),
                                       [d.assignee] if d.assignee else [])],
    "ExtensionRequested": _one(lambda e, d: pb.ExtensionRequested(
        unit=e.unit, working_days=e.working_days, reason=e.reason,
        assignment_no=d.assignment_no)),
    "Closed": _one(lambda e, d: pb.DispatchClosed(unit=d.assignee or "",
                                                   assignment_no=d.assignment_no)),
    "MergedIntoCase": merged,
    "CaseMergeRefused": _one(lambda e, d: pb.CaseMergeRefused(
        case_id=e.case_id, primary_ticket_id=e.primary_ticket_id, primary_code=e.primary_code,
        reason=e.reason, state=d.state.value, merge_event_id=e.merge_event_id)),
}
