"""Which of the SLA service's stored events become public events, and how (a table, as data).

Each public event goes to the lifecycle topic, keyed by ticket id; one that names a unit also
goes to that unit's topic (``assignments.<unit>``), so the unit's own systems see warnings,
overdue notices and supervision orders addressed to it without reading the whole lifecycle.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from minsheng.v1 import sla_events_pb2 as pb
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from backbone.privacy import mask_personal_data
from backbone.relay import Outgoing, Publication
from backbone.settings import UNIT_CODE, ServiceSettings


def ts(moment: dt.datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    out = Timestamp()
    out.FromDatetime(moment.astimezone(dt.UTC))
    return out


class Facts:
    """What the stored events do not repeat: a clock's number and an order's unit (both fixed
    for the aggregate's life, so they are cached)."""

    def __init__(self, pool: ConnectionPool, schema: str):
        self.pool, self.schema = pool, schema
        self._clock_no: dict[uuid.UUID, int] = {}
        self._order_unit: dict[uuid.UUID, str] = {}

    def clock_no(self, clock_id: uuid.UUID) -> int:
        if clock_id not in self._clock_no:
            self._clock_no[clock_id] = self._one("sla_clocks", "clock_no", "clock_id", clock_id, 0)
        return self._clock_no[clock_id]

    def order_unit(self, order_id: uuid.UUID) -> str:
        if order_id not in self._order_unit:
            self._order_unit[order_id] = self._one("sla_orders", "unit", "order_id", order_id, "")
        return self._order_unit[order_id]

    def _one(self, table: str, column: str, key: str, value: Any, default: Any) -> Any:
        with self.pool.connection() as conn:
            row = conn.execute(SQL("SELECT {} FROM {}.{} WHERE {} = %s").format(
                Identifier(column), Identifier(self.schema), Identifier(table),
                Identifier(key)), (value,)).fetchone()
        return row[0] if row else default


def _overdue_key_parts(order_key: str) -> tuple[int, dt.datetime | None]:
    # "overdue:<clock number>:<due_at iso>" (supervision.overdue_order_key)
    parts = order_key.split(":", 2)
    if parts[0] != "overdue" or len(parts) != 3:
        return 0, None
    return int(parts[1]), dt.datetime.fromisoformat(parts[2])


def payload_makers(facts: Facts, policy_version: str) -> dict[str, Callable[[Any], Any]]:
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


def units_of(payload: Any) -> list[str]:
    """The units a public event is for: its unit, the lead unit, the escalation's addressees."""
    found = [getattr(payload, f, "") for f in ("unit", "lead_unit")]
    found.extend(getattr(payload, "to_units", []))
    return sorted({u for u in found if u and UNIT_CODE.match(u)})


def translate_for(settings: ServiceSettings, facts: Facts, policy_version: str,
                  unit_topics: bool = True) -> Callable[[Publication], list[Outgoing]]:
    makers = payload_makers(facts, policy_version)

    def translate(pub: Publication) -> list[Outgoing]:
        make = makers.get(type(pub.event).__qualname__)
        if make is None:
            return []  # SignedFor, BouncedBack, ExtensionRequested, Explained: dispatch told
        payload = make(pub.event)
        env = pub.envelope(payload)
        out = [Outgoing(settings.lifecycle_topic, env.ticket_id, env)]
        if unit_topics:
            out.extend(Outgoing(settings.assignment_topic(unit), env.ticket_id, env)
                       for unit in units_of(payload))
        return out

    return translate
