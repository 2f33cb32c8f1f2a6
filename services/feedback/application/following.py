"""Commands of observers, business-environment officers and deputies: follow, unfollow,
remark, push to supervision. Tickets are named by their code; what a follower can match a
ticket on (its units and category) comes from the hall's read model."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from backbone.group_commit import GroupCommitter
from backbone.http import ConflictError, NotFoundError
from backbone.public_privacy import mask_for_public
from backbone.store import EventContext
from services.feedback.adapters.read_models import Queries
from services.feedback.application.receipts import RequestKey, prior_answer
from services.feedback.application.state_projection import read_model_writes
from services.feedback.domain.followers import Follower, FollowTarget, TicketFacts
from services.feedback.domain.policy import FeedbackPolicy


@dataclass(frozen=True)
class Person:
    follower_id: str
    role: str  # observer | business_environment_officer | deputy


class Following:
    def __init__(self, *, app: Application, committer: GroupCommitter, queries: Queries,
                 policy: FeedbackPolicy):
        self.app = app
        self.committer = committer
        self.queries = queries
        self.policy = policy

    def _follower(self, person: Person, at: datetime) -> Follower:
        try:
            return self.app.repository.get(Follower.create_id(person.follower_id))
        except AggregateNotFoundError:
            return Follower.register(follower_id=person.follower_id, role=person.role,
                                     remark_max_chars=self.policy.remark_max_chars, at=at)

    def _save(self, follower: Follower, context: EventContext, key: RequestKey | None,
              at: datetime) -> None:
        aggregates: list[Any] = [follower]
        if key is not None:  # the receipt commits with the follower's events, or neither does
            aggregates.append(key.receipt({}, at))
        try:
            # the follows commit with the follower: a follow counts once acknowledged
            self.committer.save(*aggregates, context=context,
                                sql=read_model_writes(self.queries.schema, [follower]))
        except IntegrityError:
            if prior_answer(self.app, key) is not None:
                return  # a racing retry of this very command won
            raise ConflictError("your follows changed concurrently; try again") from None

    def ticket(self, code: str) -> TicketFacts:
        row = self.queries.hall_ticket(code)
        if row is None:
            raise NotFoundError(f"no ticket {code} is known to the hall")
        return TicketFacts(ticket_id=row["ticket_id"], ticket_code=row["ticket_code"],
                           unit_codes=tuple(row["units"]), category=row["category_code"])

    def _target(self, kind: str, target: str) -> str:
        return self.ticket(target.strip()).ticket_id if kind == FollowTarget.TICKET else target

    # Each command: a retry with the request key of an earlier one is answered as that one
    # was (the answer is the caller's own body echoed, so the receipt keeps no answer).

    def follow(self, person: Person, *, kind: str, target: str, at: datetime,
               context: EventContext, key: RequestKey | None = None) -> None:
        if prior_answer(self.app, key) is not None:
            return
        follower = self._follower(person, at)
        follower.follow(kind=kind, target_id=self._target(kind, target), at=at)
        self._save(follower, context, key, at)

    def unfollow(self, person: Person, *, kind: str, target: str, at: datetime,
                 context: EventContext, key: RequestKey | None = None) -> None:
        if prior_answer(self.app, key) is not None:
            return
        follower = self._follower(person, at)
        follower.unfollow(kind=kind, target_id=self._target(kind, target), at=at)
        self._save(follower, context, key, at)

    def remark(self, person: Person, *, code: str, text: str, at: datetime,
               context: EventContext, key: RequestKey | None = None) -> None:
        if prior_answer(self.app, key) is not None:
            return
        facts = self.ticket(code)
        follower = self._follower(person, at)
        follower.add_remark(ticket=facts, text=mask_for_public(text), at=at)
        self._save(follower, _for_ticket(context, facts), key, at)

    def push_to_supervision(self, person: Person, *, code: str, reason: str, at: datetime,
                            context: EventContext, key: RequestKey | None = None) -> None:
        if prior_answer(self.app, key) is not None:
            return
        facts = self.ticket(code)
        follower = self._follower(person, at)
        follower.push_to_supervision(ticket=facts, reason=mask_for_public(reason), at=at)
        self._save(follower, _for_ticket(context, facts), key, at)


def _for_ticket(context: EventContext, facts: TicketFacts) -> EventContext:
    return EventContext(**{**context.__dict__, "ticket_id": facts.ticket_id,
                           "ticket_code": facts.ticket_code})
