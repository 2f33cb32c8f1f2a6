"""The plan's pure data: actions in simulated time, per-ticket ground truth, planted episodes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# Action kinds, each one call a phase-2 driver makes through a public interface.
SUBMIT = "submit"                # channel adapter → intake HTTP API
SIGN_FOR = "sign_for"            # department system → dispatch gRPC
BOUNCE_BACK = "bounce_back"      # department system → dispatch gRPC
DECIDE = "decide"                # dispatcher console: platform decision after a bounce-back
NOTE = "note"                    # department system: progress note
ASK_EXTENSION = "ask_extension"  # department system: extension request
REPLY = "reply"                  # department system: the answer to the citizen
RATE = "rate"                    # citizen: rating link (好差评)
CALLBACK = "callback"            # staff: phone callback (电话回访)
ACTION_KINDS = (SUBMIT, SIGN_FOR, BOUNCE_BACK, DECIDE, NOTE, ASK_EXTENSION, REPLY, RATE, CALLBACK)

SATISFIED = "satisfied"
BASICALLY_SATISFIED = "basically_satisfied"
DISSATISFIED = "dissatisfied"


@dataclass(frozen=True, slots=True)
class SimAction:
    """One thing that happens at simulated time ``at``; ``step`` orders a ticket's own actions."""

    at: datetime
    ticket: str
    step: int
    kind: str
    actor: str
    payload: dict[str, Any]

    def sort_key(self) -> tuple[datetime, str, int]:
        return (self.at, self.ticket, self.step)

    def to_json(self) -> dict[str, Any]:
        return {"type": "action", "at": self.at.isoformat(), "ticket": self.ticket, "step": self.step,
                "kind": self.kind, "actor": self.actor, "payload": self.payload}


@dataclass(slots=True)
class TicketTruth:
    """What the platform should find out about a ticket: the known answer per request."""

    ticket: str
    channel: str
    submitted_at: datetime
    citizen: str
    citizen_kind: str
    category: str
    subcategory: str
    request_type: str
    urgency: str
    territory: str
    subdistrict: str
    handling_unit: str
    lon: float
    lat: float
    estate: str
    pii_in_text: list[str] = field(default_factory=list)
    episode: str | None = None
    bounced: bool = False
    extension: bool = False
    late: bool = False
    rating: str | None = None   # the first reply's rating, if the citizen rates it
    reopens: int = 0            # planned reopens (重办): rounds handled again after round 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["submitted_at"] = self.submitted_at.isoformat()
        return {"type": "truth"} | data


@dataclass(slots=True)
class Episode:
    """A planted pattern with its known answer (what analytics/dispatch must discover)."""

    id: str
    kind: str
    description: str
    tickets: list[str]
    answer: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": "episode"} | asdict(self)


@dataclass(slots=True)
class SimPlan:
    """A simulated period: time-ordered actions, the ground truth, the episodes and the units' profiles."""

    seed: int
    start: datetime
    days: int
    per_day: int
    actions: list[SimAction]
    truths: dict[str, TicketTruth]
    episodes: list[Episode]
    unit_profiles: dict[str, str]
    unit_names: dict[str, str]

    def header(self) -> dict[str, Any]:
        return {"type": "plan", "seed": self.seed, "start": self.start.isoformat(), "days": self.days,
                "per_day": self.per_day, "tickets": len(self.truths), "actions": len(self.actions),
                "unit_profiles": self.unit_profiles, "unit_names": self.unit_names}

    def records(self) -> list[dict[str, Any]]:
        """JSON-ready records: header, episodes, truths, then actions in time order."""
        out = [self.header()]
        out += [e.to_json() for e in self.episodes]
        out += [t.to_json() for t in self.truths.values()]
        out += [a.to_json() for a in self.actions]
        return out
