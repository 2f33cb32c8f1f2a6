"""Dispatchers confirm, undo or make merges (并单). Every ticket keeps its own code throughout."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from psycopg.sql import SQL, Identifier

from backbone.privacy import mask_personal_data
from backbone.store import EventContext, Statement
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.application.submissions import IntakeApplication
from services.intake.domain.ticket import Case, Ticket


class MergeError(Exception):
    """The merge command does not fit the tickets' state; the reason says why."""


class TicketNotFoundError(MergeError):
    pass


class Merges:
    def __init__(self, app: IntakeApplication, index: TicketIndex | None = None):
        self.app = app
        # the read model: what other services said of a ticket (closed, answered), which the
        # Ticket aggregate, intake's own decisions only, does not know
        self.index = index

    def _handled(self, code: str) -> str | None:
        """Why a ticket can no longer join a case, or None: it is closed, or answered (its
        unit replied and the citizen was told). Dispatch refuses to merge a ticket past its
        reply, so intake would show a case dispatch never made, and a ticket merged into a
        closed one would follow a primary no one handles any more."""
        row = self.index.by_code(code) if self.index is not None else None
        if row is None:
            return None
        if row.get("status") == "closed":
            return (f"ticket {code} is closed; it cannot be in a case now (a matter that "
                    "came back: reopen it, 重办, or dispatch the new ticket on its own)")
        if row.get("answered_at") is not None:
            return (f"ticket {code} was answered already; it cannot be in a case now "
                    "(reopen it, 重办, or dispatch the new ticket on its own)")
        return None

    def _ticket(self, code: str) -> Ticket:
        try:
            return self.app.repository.get(Ticket.create_id(code))
        except AggregateNotFoundError:
            raise TicketNotFoundError(f"no ticket with code {code}") from None

    def _case_or_none(self, ticket: Ticket) -> Case | None:
        # A case's primary ticket is not "merged": its case is found by its own code.
        try:
            return self.app.repository.get(ticket.case_id or Case.create_id(ticket.code))
        except AggregateNotFoundError:
            return None

    def _case(self, ticket: Ticket) -> Case:
        case = self._case_or_none(ticket)
        if case is None:
            raise MergeError(f"ticket {ticket.code} is not merged into any case")
        return case

    def _save(self, ticket: Ticket, case: Case, by: str, role: str,
              unchanged: Sequence[tuple[uuid.UUID, int]] = ()) -> None:
        """Save the ticket and its case; `unchanged`: (aggregate id, version) of aggregates
        the decision read but does not change, which must still be at that version when it
        commits (no event after it), or the save fails as a concurrent change does."""
        primary_id = str(case.links[case.primary_code]["ticket_id"])
        contexts = {
            ticket.id: EventContext(ticket_id=str(ticket.id), ticket_code=ticket.code,
                                    actor_role=role, actor_id=by),
            case.id: EventContext(ticket_id=primary_id, ticket_code=case.primary_code,
                                  actor_role=role, actor_id=by),
        }
        try:
            self.app.save(ticket, case, contexts=contexts, sql=self._still_at(unchanged))
        except IntegrityError:
            raise MergeError("the ticket changed meanwhile; read it again and retry") from None

    def _still_at(self, unchanged: Sequence[tuple[uuid.UUID, int]]) -> list[Statement]:
        """Statements that fail the save (a duplicate key: IntegrityError) if any of these
        aggregates has an event after the version read. They take the events table's lock
        first (the store takes it for every save that stores events), so they see every save
        committed before this one, a racing hand merge's too: two dispatchers merging A into
        B and B into A at once made a cycle (each followed the other; dispatch withdrew both
        and neither citizen was ever answered), and C into A with A into B a chain."""
        if not unchanged:
            return []
        recorder: Any = self.app.recorder
        table = SQL("{}.{}").format(Identifier(recorder.datastore.schema),
                                    Identifier(recorder.events_table_name))
        after = SQL(", ").join(SQL("(%s::uuid, %s::bigint)") for _ in unchanged)
        return [Statement(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table)),
                Statement(SQL("INSERT INTO {t} (originator_id, originator_version)"
                              " SELECT originator_id, originator_version FROM {t}"
                              " WHERE (originator_id, originator_version) IN ({a})").format(
                                  t=table, a=after),
                          [x for aggregate_id, version in unchanged
                           for x in (aggregate_id, version + 1)])]

    def _check_leads_no_case(self, ticket: Ticket) -> tuple[uuid.UUID, int]:
        """A ticket whose own case holds other tickets is not merged into another case: its
        followers would follow a ticket that follows another (a chain: dispatch withdrew
        them, the case's reply went to the new primary's case alone, and their citizens
        were never answered). Its followers' merges are undone first, or each is merged
        into the other case by hand."""
        own_id = Case.create_id(ticket.code)
        try:
            own: Case = self.app.repository.get(own_id)
        except AggregateNotFoundError:
            return own_id, 0  # (and none may be opened while the merge is decided)
        others = sorted(c for c in own.links if c != ticket.code)
        if others:
            raise MergeError(
                f"ticket {ticket.code} leads case {ticket.code} with {len(others)} other"
                f" ticket(s) ({', '.join(others)}); undo their merges first, then merge"
                " each ticket into the other case")
        return own_id, own.version

    def describe(self, code: str) -> dict[str, Any]:
        """The ticket's case and every code linked to it (each citizen keeps their own code)."""
        ticket = self._ticket(code)
        case = self._case_or_none(ticket)
        if case is None or ticket.code not in case.links:
            return {"code": ticket.code, "case": None}
        return {"code": ticket.code, "case": {
            "case_id": str(case.id), "primary_code": case.primary_code,
            "tickets": [{"code": c, "confirmed": link["confirmed"], "score": link["score"]}
                        for c, link in sorted(case.links.items())]}}

    def confirm(self, code: str, *, by: str, role: str, at: datetime) -> dict[str, Any]:
        ticket = self._ticket(code)
        case = self._case(ticket)
        link = case.links.get(ticket.code)
        if link is None:
            raise MergeError(f"ticket {code} is not linked to case {case.primary_code}")
        case.confirm(code=ticket.code, by=by, at=at)
        ticket.confirm_merge(case_id=case.id, primary_code=case.primary_code,
                             primary_ticket_id=str(case.links[case.primary_code]["ticket_id"]),
                             score=float(link["score"]), by=by, at=at)
        self._save(ticket, case, by, role)
        return self.describe(code)

    def undo(self, code: str, *, by: str, role: str, reason: str, at: datetime) -> dict[str, Any]:
        ticket = self._ticket(code)
        case = self._case(ticket)
        if ticket.case_id is None:
            raise MergeError(f"ticket {code} opened case {case.primary_code}; undo the merges "
                             "of the other tickets instead")
        primary_id = str(case.links[case.primary_code]["ticket_id"])
        reason = mask_personal_data(reason)  # staff write free text; it goes into events
        case.unlink(code=ticket.code, by=by, reason=reason, at=at)
        ticket.unmerge(case_id=case.id, reason=reason, at=at, primary_ticket_id=primary_id, by=by)
        self._save(ticket, case, by, role)
        return self.describe(code)

    def merge(self, code: str, *, into: str, by: str, role: str, at: datetime) -> dict[str, Any]:
        """A dispatcher merges by hand (confirmed at once) into the case of ``into``."""
        if code == into:
            raise MergeError("a ticket cannot be merged into itself")
        ticket, target = self._ticket(code), self._ticket(into)
        if target.status != "accepted":
            raise MergeError(f"ticket {into} is {target.status}; only accepted tickets form cases")
        for one in (into, code):
            handled = self._handled(one)
            if handled is not None:
                raise MergeError(handled)
        own_case = self._check_leads_no_case(ticket)
        case = self._case_or_none(target)
        if case is None:
            case = Case(primary_code=target.code, primary_ticket_id=target.id,
                        category=target.category_hint, timestamp=at)
        primary_id = str(case.links[case.primary_code]["ticket_id"])
        ticket.merge_into(case_id=case.id, at=at, primary_code=case.primary_code,
                          primary_ticket_id=primary_id, score=1.0, by=by, confirmed=True)
        case.link(code=ticket.code, ticket_id=ticket.id, score=1.0, by=by, confirmed=True, at=at)
        # what was decided on and is not written: the target still unmerged (or in the case
        # read), the ticket still leading no case
        self._save(ticket, case, by, role, unchanged=[(target.id, target.version), own_case])
        return self.describe(code)

