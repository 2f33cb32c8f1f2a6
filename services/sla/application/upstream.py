"""What the SLA service does with the other services' facts (the consumer's handlers).

Each handler reads the ticket's aggregates, first fires what the ticket owed before the
fact's own time (``fire_ticket``), then applies the fact at that time. Which fact goes to
which handler: the table in application/handlers.py.

Tolerance: facts come from one partition per ticket, in order, but the SLA consumer may start
late or see a fact whose precondition it never saw. A fact for a ticket with no clock starts
one where that makes sense (assignment, reopen: counted from that fact's time; documented in
docs/sla.md) and is ignored otherwise; a fact the clock has moved past (settled, wrong unit)
is logged and ignored; a fact dated before the clock's last event is applied at that last
event's time (time never runs backwards in a clock).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from backbone.consumer import UnitOfWork
from backbone.events import DecodedEvent
from backbone.privacy import mask_personal_data
from backbone.store import autocommit
from services.sla.adapters import readmodel
from services.sla.application.app import Rules
from services.sla.application.firing import MASTER_PLATFORM, TicketBook, fire_ticket
from services.sla.domain.clock import (
    MET,
    REPLIED_LATE,
    SETTLED,
    STOPPED,
    AssignmentError,
    ClockError,
    ClockSettledError,
    TicketClock,
)
from services.sla.domain.policy import Grade, PolicyError
from services.sla.domain.supervision import DEPUTY, MANUAL, OBSERVER, SupervisionOrder

log = logging.getLogger(__name__)

INITIAL_GRADE = Grade.GENERAL.value  # until dispatch classifies the ticket
EXPLANATION_OUTCOMES = frozenset({"explained", "needs_longer"})
# 需较长时间办理: an interim answer (why, by when); never settles the reply clock
NEEDS_LONGER = "needs_longer"
AUTO_POLICY = "auto-policy"
MERGED = "merged"  # the stop reason of a clock whose ticket was merged into a case


LATE_FACTS = Counter("minsheng_sla_late_facts_total",
                     "Upstream facts dated before their clock's last event (applied then)",
                     ["event_type"])


class LateFacts:
    """Facts dated before their clock's last event are applied at that event's time. Under
    load such facts come by the hundreds (1024 actions in flight: their warnings, one JSON
    log line each, were a quarter of the handlers' CPU, 7 % of the consumer's): each is
    counted (`LATE_FACTS`) and logged at DEBUG with its ticket; a WARNING says so at most
    every `every_s` seconds, with how many came since the last one and the latest."""

    def __init__(self, every_s: float = 10.0):
        self.every_s = every_s
        self.unreported = 0
        self._next = 0.0  # monotonic time the next warning may be written
        self._counters: dict[str, Any] = {}

    def note(self, d: DecodedEvent, at: dt.datetime, last: dt.datetime) -> None:
        counter = self._counters.get(d.event_type)
        if counter is None:
            counter = self._counters[d.event_type] = LATE_FACTS.labels(d.event_type)
        counter.inc()
        self.unreported += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s dated %s is before the clock's last event %s; applied then",
                      d.event_type, at.isoformat(), last.isoformat())
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every_s
        count, self.unreported = self.unreported, 0
        log.warning("%d fact(s) dated before their clock's last event, applied then, since"
                    " the last such warning (minsheng_sla_late_facts_total); the latest: %s"
                    " dated %s, the clock's last event %s", count, d.event_type,
                    at.isoformat(), last.isoformat())


class Upstream:
    """The handlers, with what they share: rules, the read model's pool, the auto policy."""

    def __init__(self, *, rules: Rules, pool: ConnectionPool, schema: str,
                 extension_auto_approve_days: int):
        self.rules = rules
        self.pool = pool
        self.schema = schema
        self.auto_days = extension_auto_approve_days
        self.late = LateFacts()  # facts dated before their clock's last event

    # -- shared steps ------------------------------------------------------------------------
    def _book(self, uow: UnitOfWork, ticket_id: str) -> TicketBook:
        """The ticket's committed clocks and open orders from the read model, once per batch
        (nothing of the ticket commits while a batch is applied: the service lock): for every
        ticket of the batch in one autocommit round trip (was BEGIN, SELECT, COMMIT per fact,
        plus a load probing for the clock after the last)."""
        known: dict[str, tuple[int, list[Any]]] = uow.__dict__.setdefault("sla_tickets", {})
        if ticket_id not in known:
            wanted = list(dict.fromkeys(
                [ticket_id, *(d.ticket_id for d in uow.batch if d.ticket_id)]))
            wanted = [t for t in wanted if t not in known]
            with autocommit(self.pool) as conn:
                found = readmodel.tickets_state(conn, self.schema, wanted)
            for t in wanted:
                known[t] = found.get(t, (0, []))
        clock_count, order_ids = known[ticket_id]
        return TicketBook(uow, order_ids, clock_count)

    def _at(self, d: DecodedEvent, clock: TicketClock | None) -> dt.datetime:
        at = d.occurred_at
        if clock is not None and at < clock.modified_on:
            self.late.note(d, at, clock.modified_on)
            return clock.modified_on
        return at

    def _open(self, d: DecodedEvent, uow: UnitOfWork) -> tuple[TicketBook, TicketClock | None,
                                                                dt.datetime]:
        """The ticket's book and current clock, with everything owed before the fact fired."""
        book = self._book(uow, d.ticket_id)
        clock = book.current_clock(d.ticket_id)
        at = self._at(d, clock)
        fire_ticket(self.rules, book, d.ticket_id, at)
        return book, clock, at

    def _start(self, book: TicketBook, ticket_id: str, number: int, grade: str, graded: bool,
               at: dt.datetime) -> TicketClock:
        clock = TicketClock.start(self.rules.policy, self.rules.calendar, ticket_id=ticket_id,
                                  clock_number=number, grade=grade, accepted_at=at,
                                  graded=graded)
        book.add(clock)
        return clock

    def _live(self, d: DecodedEvent, clock: TicketClock | None) -> TicketClock | None:
        if clock is None:
            log.info("%s for a ticket without a clock: ignored", d.event_type)
            return None
        if clock.status in SETTLED:
            log.info("%s for a %s clock: ignored", d.event_type, clock.status)
            return None
        return clock

    # -- intake ------------------------------------------------------------------------------
    def ticket_accepted(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        book, clock, at = self._open(d, uow)
        if clock is None:
            self._start(book, d.ticket_id, 1, INITIAL_GRADE, graded=False, at=at)

    # -- dispatch ----------------------------------------------------------------------------
    def ticket_assigned(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        p = d.payload
        book, clock, at = self._open(d, uow)
        grade = p.urgency if p.urgency in {g.value for g in Grade} else None
        if clock is None:  # the consumer started after acceptance: count from here
            clock = self._start(book, d.ticket_id, 1, grade or INITIAL_GRADE,
                                graded=grade is not None, at=at)
        elif clock.status == STOPPED and clock.stop_reason == MERGED:
            # taken out of its case again (merge undone): handled on its own, on a new clock
            clock = self._start(book, d.ticket_id, clock.clock_number + 1,
                                grade or clock.grade, graded=grade is not None or clock.graded,
                                at=at)
        clock = self._live(d, clock)
        if clock is None:
            return
        if grade is not None and p.role != "co_handling" and (
                not clock.graded or grade != clock.grade):
            # graded (分级分类) on the first assignment, and again when a dispatcher's
            # re-assignment corrects the grade: the limit is recounted from acceptance
            clock.grade_as(self.rules.policy, self.rules.calendar, grade=grade, at=at)
        if p.role == "co_handling":
            return  # the clock follows the lead unit (主办); co-handling units reply through it
        if clock.unit == p.unit and clock.sign_for_due_at is not None and not clock.signed_for:
            return  # already waiting for this unit's sign-for (e.g. after a transfer)
        clock.assign(self.rules.policy, self.rules.calendar, unit=p.unit, at=at,
                     reason="assignment", parent_unit=p.parent_unit or None)

    def reclassified(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """A dispatcher set the grade by hand (分级分类), on a ticket a unit may already hold:
        when it (or a complex matter's limit the platform set) differs from the clock's, the
        reply limit is recounted from acceptance, as at the first assignment."""
        p = d.payload
        _, clock, at = self._open(d, uow)
        live = self._live(d, clock)
        if live is None or p.urgency not in {g.value for g in Grade}:
            return
        days = p.working_days or None
        if live.graded and live.grade == p.urgency and (
                days is None or days == live.working_days):
            return
        try:
            live.grade_as(self.rules.policy, self.rules.calendar, grade=p.urgency, at=at,
                          platform_working_days=days)
        except PolicyError as exc:  # dispatch checks the range; a policy changed since
            log.warning("TicketReclassified for %s not applied: %s", d.ticket_id, exc)

    def withdrawn(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        """并单: the ticket now follows its case's primary ticket, whose clock measures the
        handling; its own clock stops, so it is neither warned about nor counted overdue."""
        _, clock, at = self._open(d, uow)
        live = self._live(d, clock)
        if live is None:
            return
        if d.payload.unit and live.unit is not None and d.payload.unit != live.unit:
            log.info("withdrawal from %s while %s holds the ticket: ignored",
                     d.payload.unit, live.unit)
            return
        live.stop(reason=MERGED, at=at)

    def signed_for(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        live = self._live(d, clock)
        if live is not None:
            self._tolerate(lambda: live.sign_for(unit=d.payload.unit, at=at), d)

    def bounced_back(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        live = self._live(d, clock)
        if live is not None:
            p = d.payload
            self._tolerate(lambda: live.bounce_back(
                unit=p.unit, reason=mask_personal_data(p.reason), at=at), d)

    def transferred(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        live = self._live(d, clock)
        if live is not None:
            live.assign(self.rules.policy, self.rules.calendar, unit=d.payload.to_unit,
                         at=at, reason="transfer")

    def coordinated(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        clock = self._live(d, clock)
        if clock is None:
            return
        lead = d.payload.lead_unit
        parent = clock.parent_unit if clock.unit == lead else None
        clock.coordinate(self.rules.policy, self.rules.calendar, lead_unit=lead, at=at)
        clock.assign(self.rules.policy, self.rules.calendar, unit=lead, at=at,
                     reason="coordination", parent_unit=parent)

    def replied(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        clock = self._live(d, clock)
        if clock is None:
            return
        p = d.payload
        if clock.unit is not None and p.unit and p.unit != clock.unit:
            log.info("reply from %s while %s holds the ticket: ignored", p.unit, clock.unit)
            return
        if p.outcome == NEEDS_LONGER:
            # the unit keeps the ticket and owes the final reply: the explanation is given
            # (met or late against its deadline), the reply clock runs on
            clock.explain(at=at)
            return
        if (clock.explanation_due_at is not None and not clock.explained
                and p.outcome in EXPLANATION_OUTCOMES):
            clock.explain(at=at)  # the explanation a long-handling ticket owes; clock runs on
            return
        clock.record_reply(at=at)

    def reply_reviewed(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        if clock is None:
            return
        if d.payload.accepted:
            if d.payload.interim or d.payload.outcome == NEEDS_LONGER:
                return  # "needs longer" accepted: not the answer, the clock runs on
            unit = d.payload.unit
            if clock.unit is None or not unit or unit == clock.unit:
                clock.answer_accepted(at=at)  # an explanation taken as the answer settles
            return
        if clock.status not in (MET, REPLIED_LATE):
            return
        clock.send_back(reason=mask_personal_data(d.payload.reason), at=at)

    def extension_requested(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        _, clock, at = self._open(d, uow)
        clock = self._live(d, clock)
        if clock is None:
            return
        p = d.payload
        try:
            clock.request_extension(self.rules.policy, working_days=p.working_days,
                                    reason=mask_personal_data(p.reason), requested_by=p.unit,
                                    at=at)
        except ClockError as exc:
            clock.refuse_outright(reason=str(exc), refused_by=AUTO_POLICY, at=at)
            return
        if 0 < p.working_days <= self.auto_days:
            clock.approve_extension(self.rules.policy, self.rules.calendar,
                                    approved_by=AUTO_POLICY, at=at)

    # -- feedback ----------------------------------------------------------------------------
    def reopened(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        book, clock, at = self._open(d, uow)
        if clock is None:
            self._start(book, d.ticket_id, 1, INITIAL_GRADE, graded=False, at=at)
            return
        if clock.status not in SETTLED:
            clock.stop(reason="reopened", at=at)
        self._start(book, d.ticket_id, clock.clock_number + 1, clock.grade,
                    graded=clock.graded, at=at)

    def pushed_to_supervision(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        book, clock, at = self._open(d, uow)
        p = d.payload
        kind = {"deputy": DEPUTY, "observer": OBSERVER}.get(p.follower_role, MANUAL)
        key = f"push:{d.event_id}"
        if uow.get(SupervisionOrder.create_id(d.ticket_id, key)) is not None:
            return
        unit = p.unit or (clock.unit if clock is not None else None) or MASTER_PLATFORM
        reason = mask_personal_data(p.reason) or "人大代表/观察员推动督办"
        book.add(SupervisionOrder.issue(
            self.rules.policy, self.rules.calendar, ticket_id=d.ticket_id, order_key=key,
            unit=unit, kind=kind, issued_by=f"{p.follower_role}:{p.follower_id}",
            reason=reason, at=at))

    def closed(self, d: DecodedEvent, uow: UnitOfWork) -> None:
        book, clock, at = self._open(d, uow)
        if clock is not None and clock.status not in SETTLED:
            clock.stop(reason="closed", at=at)
        if clock is not None:
            clock.note_ticket_closed(at=at)  # a supervision order after this is refused
        for order in book.open_orders(d.ticket_id):
            order.close(closed_by="sla", note="工单已办结", at=max(at, order.modified_on))

    @staticmethod
    def _tolerate(step: Callable[[], None], d: DecodedEvent) -> None:
        try:
            step()
        except (AssignmentError, ClockSettledError) as exc:
            log.info("%s not applied: %s", d.event_type, exc)
