"""Requests from adapters that live on the bus, answered through the outbox.

Each request is checked exactly like an HTTP one (token, channel model, time, idempotency,
rate limits) by the same `Submissions.prepare`. The answer is a `BusRequest` aggregate saved
in the same transaction as the ticket and the consumer's progress; its events are published
on `intake.replies` by the relay. So a request is answered once and its ticket made once,
whatever crashes when. A request resent with the same request id gets the same answer again
(`replayed`), never a second ticket.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate, event

from backbone import auth
from backbone.clock import Clock, ClockTimeError
from backbone.consumer import UnitOfWork
from backbone.store import EventContext
from services.intake.application.submissions import (
    RateLimitedError,
    SubmissionRefusedError,
    Submissions,
)
from services.intake.domain.channels import (
    ChannelInputError,
    StatedTimeError,
    check_stated_time,
    parse_channel_input,
    to_ticket_draft,
)

_NS = uuid.UUID("6a4f8f0e-2b7c-4c1e-8d55-0e9b3c2a7f10")


class BusRequest(Aggregate):
    @staticmethod
    def create_id(adapter_id: str, request_id: str) -> uuid.UUID:
        return uuid.uuid5(_NS, f"{adapter_id}\x00{request_id}")

    @event("Answered")
    def __init__(self, *, adapter_id: str, request_id: str, status: str, code: str,
                 ticket_id: str, reason_code: str, reason_text: str, replayed: bool,
                 retry_after_s: float, timestamp: datetime) -> None:
        self.adapter_id = adapter_id
        self.request_id = request_id
        self.answer = {"status": status, "code": code, "ticket_id": ticket_id,
                       "reason_code": reason_code, "reason_text": reason_text}

    def answer_again(self, *, at: datetime) -> None:
        self._reanswered(adapter_id=self.adapter_id, request_id=self.request_id,
                         replayed=True, retry_after_s=0.0, timestamp=at, **self.answer)

    @event("Reanswered")
    def _reanswered(self, adapter_id: str, request_id: str, status: str, code: str,
                    ticket_id: str, reason_code: str, reason_text: str, replayed: bool,
                    retry_after_s: float, timestamp: datetime) -> None:
        pass


def _answer(adapter_id: str, request_id: str, at: datetime, *, status: str, code: str = "",
            ticket_id: str = "", reason_code: str = "", reason_text: str = "",
            replayed: bool = False, retry_after_s: float = 0.0) -> BusRequest:
    return BusRequest(adapter_id=adapter_id, request_id=request_id, status=status, code=code,
                      ticket_id=ticket_id, reason_code=reason_code, reason_text=reason_text,
                      replayed=replayed, retry_after_s=retry_after_s, timestamp=at)


class BusIntake:
    def __init__(self, *, submissions: Submissions, clock: Clock, verifier: auth.Verifier):
        self.submissions = submissions
        self.clock = clock
        self.verifier = verifier

    def handle(self, request: Any, *, message_id: str, trace_id: str, uow: UnitOfWork,
               payload: dict[str, Any], occurred_at: datetime | None,
               refusal: tuple[str, str] | None = None) -> None:
        """Apply one inbound request inside the consumer's unit of work. ``refusal``
        (reason code, text): the entrypoint could not read it (personal data in clear, a
        sealed part that does not open); the adapter is answered with it, nothing is made."""
        now = self.clock.command_time(None)
        request_id = request.request_id
        try:
            principal = self.verifier.verify(request.token).require("channel_adapter")
        except (auth.AuthError, auth.ForbiddenError) as exc:
            # No adapter to key the answer by: this message's own id keys it.
            uow.context = EventContext(trace_id=trace_id, actor_role="system", actor_id="intake")
            uow.add(_answer(f"unauthenticated:{message_id}", request_id, now, status="refused",
                            reason_code="forbidden" if isinstance(exc, auth.ForbiddenError)
                            else "unauthenticated", reason_text=str(exc)))
            return
        uow.context = EventContext(trace_id=trace_id, actor_role="channel_adapter",
                                   actor_id=principal.sub)
        previous: BusRequest | None = uow.get(BusRequest.create_id(principal.sub, request_id))
        if previous is not None:
            previous.answer_again(at=now)
            uow.context = EventContext(trace_id=trace_id, ticket_id=previous.answer["ticket_id"],
                                       ticket_code=previous.answer["code"],
                                       actor_role="channel_adapter", actor_id=principal.sub)
            uow.add(previous)
            return
        if refusal is not None:
            uow.add(_answer(principal.sub, request_id, now, status="refused",
                            reason_code=refusal[0], reason_text=refusal[1]))
            return
        uow.add(self._decide(principal.sub, request_id, payload, occurred_at, trace_id, uow, now))

    def _decide(self, adapter_id: str, request_id: str, payload: dict[str, Any],
                occurred_at: datetime | None, trace_id: str, uow: UnitOfWork,
                now: datetime) -> BusRequest:
        def refuse(reason_code: str, reason: str, retry_after_s: float = 0.0) -> BusRequest:
            return _answer(adapter_id, request_id, now, status="refused", reason_code=reason_code,
                           reason_text=reason, retry_after_s=retry_after_s)

        try:
            source = parse_channel_input(payload)
            at = self.clock.command_time(check_stated_time(occurred_at),
                                         may_backfill=True)  # adapters only
            prepared = self.submissions.prepare(
                to_ticket_draft(source), adapter_id=adapter_id, now=at, lookup=uow.get,
                backfilled=self.clock.backfilled(at),
                context=EventContext(trace_id=trace_id, actor_role="channel_adapter",
                                     actor_id=adapter_id))
        except ChannelInputError as exc:
            return refuse("invalid_request", exc.reason)
        except ClockTimeError as exc:
            return refuse("bad_time", exc.detail)
        except StatedTimeError as exc:
            return refuse("bad_time", str(exc))
        except RateLimitedError as exc:
            return refuse("rate_limited", exc.reason, exc.retry_after_s)
        except SubmissionRefusedError as exc:
            return refuse(exc.code, exc.reason)
        uow.context = prepared.context
        for aggregate in prepared.aggregates:
            uow.add(aggregate)
        for statement in prepared.sql:  # the index row: the code in the reply reads back at once
            uow.execute(statement)
        # its files under the citizen's key (before the commit: a copy of a ticket that then
        # fails to commit is an orphan under the same citizen's key, never a leak)
        self.submissions.keep_attachments(prepared)
        result = prepared.result
        return _answer(adapter_id, request_id, at, status=result.status, code=result.code,
                       ticket_id=str(result.ticket_id), reason_code=result.reason_code or "",
                       reason_text=result.reason_text or "", replayed=result.replayed)
