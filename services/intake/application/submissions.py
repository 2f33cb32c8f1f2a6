"""Submitting a request: channel input -> one ticket with one code, accepted or rejected.

Reads get -> decide -> save. A retried submission (same adapter, same request id) returns the
ticket the first one made: the `SubmissionKey` aggregate's id is derived from the idempotency
key and is saved in the same transaction as the ticket, so two racing retries cannot both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError

from backbone.group_commit import GroupCommitter
from backbone.privacy import mask_personal_data
from backbone.store import EventContext
from services.intake.adapters.codes import CodeSequence
from services.intake.domain.channels import TicketDraft
from services.intake.domain.citizen import MaskedContact, pseudonym
from services.intake.domain.ticket import Ticket
from services.intake.domain.ticket_code import issue_code
from services.intake.domain.validation import (
    AcceptanceRules,
    CityBoundary,
    Rejection,
    Submission,
    review,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
_KEY_NS = uuid.UUID("0d6f3c1e-8a51-4b8e-9f7e-3c2b1a0e1234")


class SubmissionKey(Aggregate):
    """Remembers which ticket an adapter's request id made."""

    @staticmethod
    def create_id(adapter_id: str, idempotency_key: str) -> uuid.UUID:
        return uuid.uuid5(_KEY_NS, f"{adapter_id}\x00{idempotency_key}")

    @event("Recorded")
    def __init__(self, *, adapter_id: str, idempotency_key: str, ticket_code: str) -> None:
        self.ticket_code = ticket_code


class IntakeApplication(Application):
    name = "intake"


@dataclass(frozen=True)
class Submitted:
    code: str
    ticket_id: uuid.UUID
    status: str  # accepted | rejected
    reason_code: str | None = None
    reason_text: str | None = None
    replayed: bool = False  # a retry of an earlier submission


def _masked_contact(draft: TicketDraft) -> dict[str, Any] | None:
    if draft.identity is None:
        return None
    masked = draft.identity.masked()
    return masked.as_event_dict() if isinstance(masked, MaskedContact) else dict(masked)


def _place(draft: TicketDraft) -> dict[str, Any] | None:
    if draft.place is None:
        return None
    address = draft.place.address
    return {"lat": draft.place.lat, "lon": draft.place.lon,
            "address_masked": mask_personal_data(address) if address else None}


class Submissions:
    def __init__(self, *, app: IntakeApplication, committer: GroupCommitter, codes: CodeSequence,
                 rules: AcceptanceRules, city: CityBoundary, region: str, pepper: bytes):
        self.app = app
        self.committer = committer
        self.codes = codes
        self.rules = rules
        self.city = city
        self.region = region
        self.pepper = pepper

    def _existing(self, key_id: uuid.UUID) -> Submitted | None:
        try:
            key = self.app.repository.get(key_id)
        except AggregateNotFoundError:
            return None
        ticket: Ticket = self.app.repository.get(Ticket.create_id(key.ticket_code))
        rejection = ticket.rejection or {}
        return Submitted(ticket.code, ticket.id, ticket.status, rejection.get("reason_code"),
                         rejection.get("reason_text_zh"), replayed=True)

    def submit(self, draft: TicketDraft, *, adapter_id: str, context: EventContext,
               now: datetime) -> Submitted:
        key_id = SubmissionKey.create_id(adapter_id, draft.idempotency_key)
        existing = self._existing(key_id)
        if existing is not None:
            return existing
        verdict = review(
            Submission(text=(draft.title or "") + draft.text, submitted_at=now,
                       attachment_count=len(draft.attachments),
                       lat=draft.place.lat if draft.place else None,
                       lon=draft.place.lon if draft.place else None),
            rules=self.rules, city=self.city)
        day = now.astimezone(SHANGHAI).date()
        code = issue_code(self.region, day, self.codes.next(self.region, day))
        ticket = Ticket(
            code=code, channel=draft.channel.value, masked_text=mask_personal_data(draft.text),
            masked_title=mask_personal_data(draft.title) if draft.title else None,
            category_hint=draft.category_hint, place=_place(draft),
            citizen=pseudonym(self.pepper, draft.identity) if draft.identity else None,
            masked_contact=_masked_contact(draft), requester_kind=draft.requester_kind.value,
            attachment_refs=[a.sha256 for a in draft.attachments],
            idempotency_key=draft.idempotency_key,
        )
        if isinstance(verdict, Rejection):
            ticket.reject(reason_code=verdict.reason_code.value,
                          reason_text_zh=verdict.reason_text_zh)
        else:
            ticket.accept(flags=[f.value for f in verdict.flags])
        key = SubmissionKey(adapter_id=adapter_id, idempotency_key=draft.idempotency_key,
                            ticket_code=code)
        ctx = EventContext(**{**context.__dict__, "ticket_id": str(ticket.id), "ticket_code": code})
        try:
            self.committer.save(ticket, key, context=ctx)
        except IntegrityError:
            replay = self._existing(key_id)  # a concurrent retry won the race
            if replay is None:
                raise
            return replay
        if isinstance(verdict, Rejection):
            return Submitted(code, ticket.id, "rejected", verdict.reason_code.value,
                             verdict.reason_text_zh)
        return Submitted(code, ticket.id, "accepted")

    def get(self, code: str) -> Ticket | None:
        try:
            return self.app.repository.get(Ticket.create_id(code))
        except AggregateNotFoundError:
            return None
