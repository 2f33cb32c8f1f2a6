"""The SLA service's lifecycle events as a pure function of a stored event (a table, as data).

`lifecycle_envelope(pub, makers)` is what the relay publishes on the lifecycle topic for one
stored event. Besides the event and its context it needs two facts the events do not repeat
(a clock's number, an order's unit: both fixed for the aggregate's life) and the policy
version; `ClockFacts` is that read-only lookup. The running relay answers it from its read
model (`entrypoints/publications.Facts`); the audit's reconciliation answers it from the
aggregates' first events (`StoredFacts`) and re-derives exactly which envelopes sla published,
without sla's process, Kafka or network.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import OrderedDict
from collections.abc import Callable, Collection
from typing import Any, Protocol

from eventsourcing.application import AggregateNotFoundError, Application
from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import sla_events_pb2 as pb

from backbone.privacy import mask_personal_data
from backbone.relay import Publication
from backbone.settings import UNIT_CODE
from services.sla.domain.policy import load_policy


class ClockFacts(Protocol):
    def clock_no(self, clock_id: uuid.UUID) -> int: ...

    def order_unit(self, order_id: uuid.UUID) -> str: ...


Makers = dict[str, Callable[[Any], Any]]  # stored event's qualname -> its public payload


def ts(moment: dt.datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    out = Timestamp()
    out.FromDatetime(moment.astimezone(dt.UTC))
    return out


def _overdue_key_parts(order_key: str) -> tuple[int, dt.datetime | None]:
    # "overdue:<clock number>:<due_at iso>" (supervision.overdue_order_key)
    parts = order_key.split(":", 2)
    if parts[0] != "overdue" or len(parts) != 3:
        return 0, None
    return int(parts[1]), dt.datetime.fromisoformat(parts[2])


def payload_makers(facts: ClockFacts, policy_version: str) -> Makers:
    def n(e: Any) -> int:
        return facts.clock_no(e.originator_id)

    def u(e: Any) -> str:
        return getattr(e, "unit", None) or ""

    def issued(e: Any) -> Any:
        clock_no, due_at = _overdue_key_parts(e.order_key)
        return pb.SupervisionOrderIssued(
            order_id=str(e.originator_id), unit=e.unit, kind=e.kind, issued_by=e.issued_by,
            reason=mask_personal_data(e.reason), answer_due_at=ts(e.answer_due_at),
            clock_no=clock_no, due_at=ts(due_at))

    return {
        "TicketClock.Started": lambda e: pb.DeadlineSet(
            grade=e.grade, due_at=ts(e.due_at), working_days=e.working_days,
            provisional=e.provisional, clock_no=e.clock_number,
            explanation_due_at=ts(e.explanation_due_at), policy_version=e.policy_version),
        "TicketClock.Graded": lambda e: pb.DeadlineSet(
            grade=e.grade, due_at=ts(e.due_at), working_days=e.working_days,
            provisional=e.provisional, clock_no=n(e),
            explanation_due_at=ts(e.explanation_due_at), unit=u(e),
            policy_version=policy_version),
        "TicketClock.Assigned": lambda e: pb.SignForDeadlineSet(
            unit=e.unit, sign_for_due_at=ts(e.sign_for_due_at), reason=e.reason,
            clock_no=n(e)),
        "TicketClock.Coordinated": lambda e: pb.DeadlineCoordinated(
            lead_unit=e.lead_unit, due_at=ts(e.due_at), min_working_days=e.min_working_days,
            provisional=e.provisional, clock_no=n(e)),
        "TicketClock.Paused": lambda e: pb.ClockPaused(
            reason=mask_personal_data(e.reason), clock_no=n(e), unit=u(e)),
        "TicketClock.Resumed": lambda e: pb.ClockResumed(
            due_at=ts(e.due_at), clock_no=n(e), provisional=e.provisional, unit=u(e)),
        "TicketClock.ExtensionApproved": lambda e: pb.DeadlineExtended(
            working_days=e.working_days, due_at=ts(e.due_at), approved_by=e.approved_by,
            clock_no=n(e), provisional=e.provisional, unit=u(e)),
        "TicketClock.ExtensionRefused": lambda e: pb.ExtensionRefused(
            reason=mask_personal_data(e.reason), refused_by=e.refused_by, clock_no=n(e),
            unit=u(e)),
        "TicketClock.Warned": lambda e: pb.DeadlineWarned(
            kind=e.kind, due_at=ts(e.due_at), clock_no=n(e), unit=u(e)),
        "TicketClock.Missed": lambda e: pb.DeadlineMissed(
            due_at=ts(e.due_at), clock_no=n(e), unit=u(e)),
        "TicketClock.Met": lambda e: pb.DeadlineMet(
            due_at=ts(e.due_at), replied_at=ts(e.timestamp), clock_no=n(e), unit=u(e)),
        "TicketClock.RepliedLate": lambda e: pb.DeadlineRepliedLate(
            due_at=ts(e.due_at), replied_at=ts(e.timestamp), clock_no=n(e), unit=u(e)),
        "TicketClock.SentBack": lambda e: pb.DeadlineReopened(
            due_at=ts(e.due_at), clock_no=n(e), unit=u(e),
            reason=mask_personal_data(e.reason), overdue=e.overdue),
        "TicketClock.Stopped": lambda e: pb.ClockStopped(
            reason=e.reason, clock_no=n(e), unit=u(e)),
        "TicketClock.Recomputed": lambda e: pb.DeadlineRecomputed(
            previous_due_at=ts(e.previous_due_at), due_at=ts(e.due_at),
            provisional=e.provisional, clock_no=n(e), unit=u(e),
            explanation_due_at=ts(e.explanation_due_at)),
        "SupervisionOrder.Issued": issued,
        "SupervisionOrder.Answered": lambda e: pb.SupervisionOrderAnswered(
            order_id=str(e.originator_id), unit=e.unit,
            text_masked=mask_personal_data(e.text), late=e.late),
        "SupervisionOrder.Escalated": lambda e: pb.SupervisionOrderEscalated(
            order_id=str(e.originator_id), level=e.level, to_units=list(e.to_units),
            answer_due_at=ts(e.answer_due_at), unit=facts.order_unit(e.originator_id)),
        "SupervisionOrder.Closed": lambda e: pb.SupervisionOrderClosed(
            order_id=str(e.originator_id), closed_by=e.closed_by,
            note=mask_personal_data(e.note), unit=facts.order_unit(e.originator_id),
            answered=e.answered),
    }


def lifecycle_payload(event: Any, makers: Makers) -> Any | None:
    """The public payload of a stored event, or None: SignedFor, BouncedBack,
    ExtensionRequested, Explained stay inside (dispatch told them already)."""
    make = makers.get(type(event).__qualname__)
    return None if make is None else make(event)


def lifecycle_envelope(pub: Publication, makers: Makers) -> Any | None:
    """The one lifecycle envelope of a stored event (id: event_id_for(aggregate, version))."""
    payload = lifecycle_payload(pub.event, makers)
    return None if payload is None else pub.envelope(payload)


def units_of(payload: Any, known: Collection[str] | None = None) -> list[str]:
    """The units a public event is for: its unit, the lead unit, the escalation's addressees.

    ``known``: the registry's codes (each has its topic and the bus's grants); a code outside
    it names no topic a unit reads, and the relay would wait for its partition leaders for
    good, holding back every SLA event behind it (an order a supervisor addressed to a
    mistyped unit did that before orders checked their unit)."""
    found = [getattr(payload, f, "") for f in ("unit", "lead_unit")]
    found.extend(getattr(payload, "to_units", []))
    return sorted({u for u in found if u and UNIT_CODE.match(u)
                   and (known is None or u in known)})


class StoredFacts:
    """`ClockFacts` from the aggregates' own first events (read only, cached). The audit's
    reconciliation walks a whole history with one: at most ``kept`` of each are remembered
    (the least recently used forgotten first, then read again: the same first event), not
    every clock and order of the history (~200 bytes each; docs/profiles/memory.md)."""

    def __init__(self, app: Application, kept: int = 16_384):
        self.app, self.kept = app, kept
        self._clock_no: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._order_unit: OrderedDict[uuid.UUID, str] = OrderedDict()

    def _first(self, aggregate_id: uuid.UUID) -> Any | None:
        try:
            return self.app.repository.get(aggregate_id, version=1)
        except AggregateNotFoundError:
            return None

    def clock_no(self, clock_id: uuid.UUID) -> int:
        return self._fact(self._clock_no, clock_id,
                          lambda: getattr(self._first(clock_id), "clock_number", 0))

    def order_unit(self, order_id: uuid.UUID) -> str:
        return self._fact(self._order_unit, order_id,
                          lambda: getattr(self._first(order_id), "unit", "") or "")

    def _fact(self, kept: OrderedDict[uuid.UUID, Any], aggregate_id: uuid.UUID,
              read: Callable[[], Any]) -> Any:
        if aggregate_id in kept:
            kept.move_to_end(aggregate_id)
            return kept[aggregate_id]
        found = read()
        kept[aggregate_id] = found
        while len(kept) > self.kept:
            kept.popitem(last=False)
        return found


def lifecycle_from_store(app: Application) -> Callable[[Publication], list[Any]]:
    """The lifecycle translate rebuilt from sla's store alone (the audit's reconciliation).
    The policy version is the one this build loads, as the running service's is."""
    makers = payload_makers(StoredFacts(app), load_policy().version)

    def translate(pub: Publication) -> list[Any]:
        env = lifecycle_envelope(pub, makers)
        return [] if env is None else [env]

    return translate
