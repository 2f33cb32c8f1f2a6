"""Lifecycle facts as analytics keeps them: one normalised row per consumed event.

A fact is what one upstream event tells analytics (ticket, kind, business time, a few
attributes). Facts are stored as they come; every figure is folded from them, so the same set
of facts gives the same figures whatever order they arrived in (see `fold.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Lifecycle order of the kinds: breaks ties between facts of one ticket with the same time.
KIND_ORDER = (
    "submitted", "accepted", "rejected", "queued", "assigned", "transferred", "coordinated",
    "signed_for", "bounced_back", "withdrawn", "replied", "reply_reviewed", "deadline_met",
    "deadline_missed", "closed", "rated", "unrated", "callback", "reopened",
)
KIND_RANK = {kind: i for i, kind in enumerate(KIND_ORDER)}


class FactError(ValueError):
    """A fact that cannot be kept (unknown kind, time without a time zone)."""


@dataclass(frozen=True, slots=True)  # slots: a live state holds every fact in memory
class Fact:
    event_id: str
    ticket_id: str
    kind: str
    at: datetime
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in KIND_RANK:
            raise FactError(f"unknown fact kind {self.kind!r}")
        if self.at.tzinfo is None:
            raise FactError(f"fact {self.event_id} has a time without a time zone")

    def sort_key(self) -> tuple[datetime, int, str]:
        return (self.at, KIND_RANK[self.kind], self.event_id)

    def get(self, name: str, default: Any = "") -> Any:
        value = self.attrs.get(name, default)
        return default if value is None else value


_new = object.__new__
_set_event_id, _set_ticket_id, _set_kind, _set_at, _set_attrs = (
    vars(Fact)[name].__set__ for name in ("event_id", "ticket_id", "kind", "at", "attrs"))


def trusted_fact(event_id: str, ticket_id: str, kind: str, at: datetime,
                 attrs: dict[str, Any]) -> Fact:
    """``Fact(...)`` for a caller that has made its checks already (a known kind, an aware
    time): the same frozen object, built without the dataclass __init__'s per-field
    object.__setattr__ and __post_init__ (a third of a normalised event's Fact cost)."""
    fact = _new(Fact)
    _set_event_id(fact, event_id)
    _set_ticket_id(fact, ticket_id)
    _set_kind(fact, kind)
    _set_at(fact, at)
    _set_attrs(fact, attrs)
    return fact
