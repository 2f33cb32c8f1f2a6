"""Observers (观察员), business-environment officers (营商环境体验官) and people's-congress
deputies (人大代表) following tickets, units and categories.

`Follower` is an aggregate per person (id from their platform id): what they follow, the
remarks they leave for the handling unit, and, for deputies, the cases they push to
supervision through the "聚民意、惠民生" channel. `who_follows` is the pure matcher the
notifier runs on every lifecycle event.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.feedback.domain.errors import (
    AlreadyFollowingError,
    AlreadyPushedError,
    EmptyRemarkError,
    NotADeputyError,
    NotFollowingError,
    UnknownFollowerRoleError,
    UnknownFollowTargetError,
)

FOLLOWER_NAMESPACE = uuid.UUID("0b8f3d0e-3c1e-4f4e-8a51-3f0c9d2b7e61")
DEPUTY_CHANNEL = "聚民意、惠民生"


class FollowerRole(StrEnum):
    OBSERVER = "observer"  # 观察员
    BUSINESS_ENVIRONMENT_OFFICER = "business_environment_officer"  # 营商环境体验官
    DEPUTY = "deputy"  # 人大代表


class FollowTarget(StrEnum):
    TICKET = "ticket"
    UNIT = "unit"
    CATEGORY = "category"


@dataclass(frozen=True)
class TicketFacts:
    """What a lifecycle event tells about the ticket it concerns: enough to match follows."""

    ticket_id: str
    ticket_code: str = ""
    unit_codes: tuple[str, ...] = ()  # lead and co-handling units
    category: str = ""

    def targets(self) -> set[tuple[str, str]]:
        found = {(FollowTarget.TICKET.value, self.ticket_id)}
        found |= {(FollowTarget.UNIT.value, u) for u in self.unit_codes if u}
        if self.category:
            found.add((FollowTarget.CATEGORY.value, self.category))
        return found


def _parse_target(kind: str, target_id: str) -> tuple[str, str]:
    try:
        parsed = FollowTarget(kind)
    except ValueError:
        raise UnknownFollowTargetError(
            f"one can follow a ticket, a unit or a category, not {kind!r}"
        ) from None
    if not target_id.strip():
        raise UnknownFollowTargetError(f"which {parsed.value} to follow is missing")
    return parsed.value, target_id.strip()


class Follower(Aggregate):
    @staticmethod
    def create_id(follower_id: str) -> UUID:
        return uuid.uuid5(FOLLOWER_NAMESPACE, f"follower:{follower_id}")

    @event("FollowerRegistered")
    def __init__(
        self, *, follower_id: str, role: str, remark_max_chars: int = 1000,
        timestamp: datetime | None = None,
    ) -> None:
        self.follower_id = follower_id
        self.role = FollowerRole(role)
        self.remark_max_chars = remark_max_chars
        self.following: list[list[str]] = []  # [kind, target_id] pairs, JSON-friendly
        self.pushed_ticket_ids: list[str] = []

    @classmethod
    def register(
        cls, *, follower_id: str, role: str, remark_max_chars: int = 1000,
        at: datetime | None = None,
    ) -> Follower:
        if not follower_id.strip():
            raise UnknownFollowerRoleError("a follower needs a platform id")
        try:
            FollowerRole(role)
        except ValueError:
            allowed = ", ".join(r.value for r in FollowerRole)
            raise UnknownFollowerRoleError(f"role {role!r} is not one of: {allowed}") from None
        return cls(follower_id=follower_id, role=role, remark_max_chars=remark_max_chars,
                   timestamp=at)

    # --- following --------------------------------------------------------------------

    def is_following(self, kind: str, target_id: str) -> bool:
        return [kind, target_id] in self.following

    def follows(self, facts: TicketFacts) -> bool:
        return any(self.is_following(k, t) for k, t in facts.targets())

    def follow(self, *, kind: str, target_id: str, at: datetime) -> None:
        kind, target_id = _parse_target(kind, target_id)
        if self.is_following(kind, target_id):
            raise AlreadyFollowingError(f"already following {kind} {target_id}")
        self._follow_started(target_kind=kind, target_id=target_id, followed_at=at, timestamp=at)

    @event("FollowStarted")
    def _follow_started(
        self, target_kind: str, target_id: str, followed_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        self.following.append([target_kind, target_id])

    def unfollow(self, *, kind: str, target_id: str, at: datetime) -> None:
        kind, target_id = _parse_target(kind, target_id)
        if not self.is_following(kind, target_id):
            raise NotFollowingError(f"not following {kind} {target_id}")
        self._follow_stopped(target_kind=kind, target_id=target_id, stopped_at=at, timestamp=at)

    @event("FollowStopped")
    def _follow_stopped(
        self, target_kind: str, target_id: str, stopped_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        self.following.remove([target_kind, target_id])

    # --- remarks and supervision -------------------------------------------------------

    def add_remark(self, *, ticket: TicketFacts, text: str, at: datetime) -> None:
        """A remark the handling unit(s) see on the ticket (RemarkAdded names the units)."""
        if not self.follows(ticket):
            raise NotFollowingError(
                "remarks are left on tickets one follows (the ticket, its unit or its category)"
            )
        text = text.strip()
        if not text:
            raise EmptyRemarkError("a remark needs some text")
        if len(text) > self.remark_max_chars:
            raise EmptyRemarkError(f"a remark is at most {self.remark_max_chars} characters")
        self._remark_added(
            ticket_id=ticket.ticket_id,
            ticket_code=ticket.ticket_code,
            unit_codes=list(ticket.unit_codes),
            role=self.role.value,
            text=text,
            remarked_at=at,
            timestamp=at,
        )

    @event("RemarkAdded")
    def _remark_added(
        self,
        ticket_id: str,
        ticket_code: str,
        unit_codes: list[str],
        role: str,
        text: str,
        remarked_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        """Nothing of the follower changes: the event itself is the remark, and the unit's
        view of it is a projection of the event."""

    def push_to_supervision(self, *, ticket: TicketFacts, reason: str, at: datetime) -> None:
        """A deputy pushes a hard case to supervision (督办) through their own channel."""
        if self.role is not FollowerRole.DEPUTY:
            raise NotADeputyError("only people's-congress deputies push cases to supervision")
        if not self.follows(ticket):
            raise NotFollowingError("a deputy pushes cases they follow; follow the ticket first")
        if ticket.ticket_id in self.pushed_ticket_ids:
            raise AlreadyPushedError(
                f"ticket {ticket.ticket_code or ticket.ticket_id} was already pushed"
            )
        if not reason.strip():
            raise EmptyRemarkError("pushing a case to supervision needs a reason")
        self._pushed(
            ticket_id=ticket.ticket_id,
            ticket_code=ticket.ticket_code,
            unit_codes=list(ticket.unit_codes),
            reason=reason.strip(),
            channel=DEPUTY_CHANNEL,
            pushed_at=at,
            timestamp=at,
        )

    @event("PushedToSupervision")
    def _pushed(
        self,
        ticket_id: str,
        ticket_code: str,
        unit_codes: list[str],
        reason: str,
        channel: str,
        pushed_at: datetime,
        timestamp: datetime | None = None,
    ) -> None:
        self.pushed_ticket_ids.append(ticket_id)


@dataclass
class FollowIndex:
    """(target kind, target id) → follower ids; rebuilt from Follow* events or aggregates."""

    by_target: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(self, follower_id: str, kind: str, target_id: str) -> None:
        self.by_target[_parse_target(kind, target_id)].add(follower_id)

    def remove(self, follower_id: str, kind: str, target_id: str) -> None:
        self.by_target.get(_parse_target(kind, target_id), set()).discard(follower_id)

    @classmethod
    def from_followers(cls, followers: Iterable[Follower]) -> FollowIndex:
        index = cls()
        for f in followers:
            for kind, target_id in f.following:
                index.add(f.follower_id, kind, target_id)
        return index


def who_follows(facts: TicketFacts, index: FollowIndex) -> set[str]:
    """Every follower to notify of an event about this ticket: via the ticket, any of its
    units (lead or co-handling), or its category."""
    found: set[str] = set()
    for target in facts.targets():
        found |= index.by_target.get(target, set())
    return found
