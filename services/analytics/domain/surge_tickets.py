"""Which accepted ticket counts for which (county, subcategory), from one ticket's events.

A ticket counts once, at the time intake accepted it, under the county and subcategory
dispatch classified it with (its first TicketAssigned). A duplicate merged into a case
(并单) is never assigned itself, yet a burst of duplicates is exactly what a surge looks like
(the burst water main reported a dozen times): it counts under its own county and the
subcategory of its case's primary ticket, which it asks for with a `Follow` keyed by the
primary's id (so it lands where the primary's row is kept).

Pure functions on a ticket's row (a small JSON-ready dict kept by the faust app's table).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A finished ticket's row is dropped (the worker's state stays the size of the open tickets);
# a duplicate merged into it later waits in vain and is not counted, which a surge can afford.
FINISHED = ("TicketRejected", "TicketClosed")
HANDLED = ("TicketSubmitted", "TicketAccepted", "TicketAssigned", "TicketMergedIntoCase",
           *FINISHED)


@dataclass(frozen=True)
class Count:
    """One accepted ticket to count: key (county, subcategory), business time, public code."""

    county: str
    subcategory: str
    at: datetime
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"county": self.county, "subcategory": self.subcategory,
                "at": self.at.isoformat(), "code": self.code}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Count:
        return cls(d["county"], d["subcategory"], datetime.fromisoformat(d["at"]), d["code"])


@dataclass(frozen=True)
class Follow:
    """A merged duplicate waiting for its primary's subcategory."""

    primary_ticket_id: str
    county: str
    at: datetime
    code: str

    def as_dict(self) -> dict[str, str]:
        return {"primary_ticket_id": self.primary_ticket_id, "county": self.county,
                "at": self.at.isoformat(), "code": self.code}

    @classmethod
    def from_dict(cls, d: dict[str, str]) -> Follow:
        return cls(d["primary_ticket_id"], d["county"], datetime.fromisoformat(d["at"]),
                   d["code"])


def step(row: dict[str, Any], event_type: str, payload: Any, *, code: str,
         at: datetime) -> list[Count | Follow]:
    """Apply one event of the ticket to its row (mutated); what to count or follow now."""
    if code:
        row["code"] = code
    if event_type == "TicketSubmitted":
        row.setdefault("county", payload.place.county)
    elif event_type == "TicketAccepted":
        row.setdefault("accepted_at", at.isoformat())
    elif event_type == "TicketAssigned" and not row.get("subcategory"):
        row["county"] = payload.county or row.get("county", "")
        row["subcategory"] = payload.subcategory or payload.category
        out: list[Count | Follow] = []
        if not row.get("counted"):
            row["counted"] = True
            out.append(Count(row["county"], row["subcategory"], _accepted(row, at),
                             row.get("code", "")))
        out += [Count(p["county"] or row["county"], row["subcategory"],
                      datetime.fromisoformat(p["at"]), p["code"])
                for p in row.pop("pending", [])]
        return out
    elif event_type == "TicketMergedIntoCase" and not row.get("counted"):
        row["counted"] = True
        return [Follow(payload.primary_ticket_id, row.get("county", ""), _accepted(row, at),
                       row.get("code", ""))]
    return []


def follow(row: dict[str, Any], wanted: Follow) -> list[Count]:
    """A duplicate reaches its primary's row: count it now, or when the primary is assigned."""
    if row.get("subcategory"):
        return [Count(wanted.county or row.get("county", ""), row["subcategory"], wanted.at,
                      wanted.code)]
    pending = row.setdefault("pending", [])
    if all(p["code"] != wanted.code for p in pending):
        pending.append({"county": wanted.county, "at": wanted.at.isoformat(),
                        "code": wanted.code})
    return []


def _accepted(row: dict[str, Any], fallback: datetime) -> datetime:
    accepted = row.get("accepted_at")
    return datetime.fromisoformat(accepted) if accepted else fallback
