"""Which stored dispatch events become public events, on which topics (a table, as data).

The relay hands us one stored event at a time; the public payloads need the ticket's state
as that event left it (the assignment number, the classification, the masked text), so the
translator keeps the aggregates it has seen and advances them event by event, reading the
store only when it meets an aggregate it has not followed (e.g. after a restart).

`TicketAssigned` goes to the lifecycle topic AND to `assignments.<unit>` in the same envelope;
what a unit must react to (sent back, transferred away, withdrawn) goes to its topic as well.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from eventsourcing.application import Application
from minsheng.v1 import common_pb2
from minsheng.v1 import dispatch_events_pb2 as pb

from backbone import events
from backbone.privacy import mask_personal_data
from backbone.relay import Outgoing, Publication
from backbone.settings import ServiceSettings
from services.dispatch.application.projection import event_time
from services.dispatch.application.units import UnitBook
from services.dispatch.domain.ticket_dispatch import TicketDispatch

# payload builder: (event, state after it) -> [(payload, extra unit topics)]
Built = list[tuple[Any, list[str]]]


class StateFollower:
    """The state of each TicketDispatch as of the event being published (a small LRU)."""

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
        else:
            state = self.app.repository.get(oid, version=version)
        self.cache[oid] = state
        self.cache.move_to_end(oid)
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)
        return state


class Publisher:
    def __init__(self, settings: ServiceSettings, app: Application, units: UnitBook) -> None:
        self.settings = settings
        self.units = units
        self.states = StateFollower(app)
        self.table: dict[str, Callable[[Any, TicketDispatch], Built]] = {
            "QueuedForDispatcher": self.queued,
            "Assigned": self.assigned,
            "Coordinated": self.coordinated,
            "Transferred": self.transferred,
            "TransferRequested": self.transfer_requested,
            "TransferRejected": self.transfer_rejected,
            "SignedFor": lambda e, d: [(pb.AssignmentSignedFor(
                unit=e.unit, assignment_no=d.assignment_no), [])],
            "BouncedBack": lambda e, d: [(pb.AssignmentBouncedBack(
                unit=e.unit, assignment_no=d.assignment_no, reason=e.reason), [])],
            "ProgressNoted": lambda e, d: [(pb.AssignmentProgressNoted(
                unit=e.unit, assignment_no=d.assignment_no,
                note_masked=mask_personal_data(e.note)), [])],
            "Replied": lambda e, d: [(pb.AssignmentReplied(
                unit=e.unit, assignment_no=d.assignment_no,
                reply_masked=mask_personal_data(e.reply), outcome=e.outcome), [])],
            "ReplyAccepted": lambda e, d: [(self._reviewed(d, e.by, True, e.comment), [])],
            "ReplySentBack": lambda e, d: [(self._reviewed(d, e.by, False, e.reason),
                                            [d.assignee] if d.assignee else [])],
            "ExtensionRequested": lambda e, d: [(pb.ExtensionRequested(
                unit=e.unit, working_days=e.working_days, reason=e.reason,
                assignment_no=d.assignment_no), [])],
            "Closed": lambda e, d: [(pb.DispatchClosed(
                unit=d.assignee or "", assignment_no=d.assignment_no), [])],
            "MergedIntoCase": self.withdrawn,
        }

    def translate(self, pub: Publication) -> list[Outgoing]:
        event = pub.event
        if not type(event).__qualname__.startswith(("DispatchRecord.", "TicketDispatch.")):
            return []  # the unit directory, submissions and idempotency keys stay inside
        state = self.states.after(event)
        build = self.table.get(type(event).__name__)
        if build is None:
            return []
        outgoing: list[Outgoing] = []
        for n, (payload, unit_topics) in enumerate(build(event, state)):
            env = events.make_envelope(
                payload=payload,
                event_id=events.event_id_for(event.originator_id, event.originator_version, n),
                ticket_id=state.ticket_id, ticket_code=state.ticket_code,
                producer=self.settings.service, occurred_at=event_time(event),
                actor=events.actor(pub.context.actor_role, pub.context.actor_id,
                                   pub.context.actor_unit),
                causation_id=pub.context.causation_id, trace_id=pub.context.trace_id)
            outgoing.append(Outgoing(self.settings.lifecycle_topic, state.ticket_id, env))
            for unit in dict.fromkeys(unit_topics):
                outgoing.append(Outgoing(self.settings.assignment_topic(unit), state.ticket_id,
                                         env))
        return outgoing

    # --- payloads ---

    def ticket_assigned(self, d: TicketDispatch, unit: str, role: str, rule: str,
                        confidence: float) -> pb.TicketAssigned:
        c = d.classification or {}
        req = d.request or {}
        place = req.get("place") or {}
        registry = self.units.registry
        known = registry.units.get(unit)
        return pb.TicketAssigned(
            unit=unit, unit_kind=known.kind.value if known else "",
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
            rule=rule, confidence=confidence, assignment_no=d.assignment_no)

    def assigned(self, e: Any, d: TicketDispatch) -> Built:
        confidence = (d.classification or {}).get("confidence", 0.0) if e.by == "router" else 1.0
        return [(self.ticket_assigned(d, e.unit, "lead", e.reason, confidence), [e.unit])]

    def coordinated(self, e: Any, d: TicketDispatch) -> Built:
        rule = f"统筹协调：{e.decision}"
        decided = pb.CoordinationDecided(lead_unit=e.lead_unit, co_units=list(e.co_units),
                                         decision=e.decision, decided_by=e.by,
                                         assignment_no=d.assignment_no)
        # The lead's TicketAssigned comes last, so "the latest TicketAssigned" names the holder.
        co = [(self.ticket_assigned(d, u, "co_handling", rule, 1.0), [u]) for u in e.co_units]
        return [(decided, [e.lead_unit, *e.co_units]), *co,
                (self.ticket_assigned(d, e.lead_unit, "lead", rule, 1.0), [e.lead_unit])]

    def transferred(self, e: Any, d: TicketDispatch) -> Built:
        moved = pb.AssignmentTransferred(from_unit=e.from_unit or "", to_unit=e.to_unit,
                                         assignment_no=d.assignment_no, reason=e.reason,
                                         decided_by=e.by)
        rule = f"转办：{e.reason}"
        return [(moved, [e.from_unit] if e.from_unit else []),
                (self.ticket_assigned(d, e.to_unit, "lead", rule, 1.0), [e.to_unit])]

    def transfer_requested(self, e: Any, d: TicketDispatch) -> Built:
        return [(pb.TransferRequested(unit=e.unit, to_unit=e.to_unit, reason=e.reason,
                                      assignment_no=d.assignment_no), [])]

    def transfer_rejected(self, e: Any, d: TicketDispatch) -> Built:
        unit = d.assignee or ""
        return [(pb.TransferRejected(unit=unit, reason=e.reason, decided_by=e.by,
                                     assignment_no=d.assignment_no), [unit] if unit else [])]

    def queued(self, e: Any, d: TicketDispatch) -> Built:
        c = d.classification or {}
        place = (d.request or {}).get("place") or {}
        return [(pb.TicketQueuedForDispatcher(
            reason=e.reason, suggested_unit=e.suggested_unit or "", confidence=e.confidence,
            queue=e.queue, category=c.get("category", ""), subcategory=c.get("subcategory", ""),
            request_type=c.get("request_type", ""), urgency=c.get("urgency", ""),
            county=place.get("county") or "", subdistrict=place.get("subdistrict") or ""), [])]

    def withdrawn(self, e: Any, d: TicketDispatch) -> Built:
        if not d.withdrawn_from:
            return []
        return [(pb.AssignmentWithdrawn(
            unit=d.withdrawn_from, assignment_no=d.assignment_no,
            reason=f"并单：随主诉求{e.primary_code}办理", case_id=e.case_id,
            primary_ticket_id=e.primary_ticket_id), [d.withdrawn_from])]

    @staticmethod
    def _reviewed(d: TicketDispatch, by: str, accepted: bool, reason: str) -> pb.ReplyReviewed:
        return pb.ReplyReviewed(unit=d.replied_by or d.assignee or "",
                                assignment_no=d.assignment_no, accepted=accepted, reason=reason,
                                reply_masked=mask_personal_data(d.reply_text or ""),
                                outcome=d.reply_outcome or "", reviewed_by=by)

