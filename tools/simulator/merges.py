"""What intake's duplicate detector (并单) would make of a plan: the share of requests it merges.

A realistic city sends few true duplicates (a few per cent, more when one broken main or one
estate's fee rise makes many people call within hours). Templated texts look alike to a
bigram detector and get merged wholesale, which thins the hall and the rankings; this module
measures that, with intake's OWN pure pieces (the channel mapping, the masking and
``find_duplicates``) playing the projector's part: each accepted request, in submission order,
is scored against the accepted requests near it in time (and place, when it has a pin).

No I/O: the demo, the unit tests and a quick ``python -m tools.simulator merges`` use it.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from backbone.privacy import mask_personal_data
from services.intake.domain.channels import parse_channel_input, to_ticket_draft
from services.intake.domain.duplicates import DuplicatePolicy, TicketSnapshot, find_duplicates
from tools.simulator.drive.requests import to_channel_input
from tools.simulator.model import SUBMIT, SimPlan

CHINA = timezone(timedelta(hours=8), "CST")
# The projector's candidate query (services/intake/adapters/ticket_index.py): a box of this
# radius around a pinned request, the most recent this many.
CANDIDATE_RADIUS_M = 1000.0
CANDIDATE_LIMIT = 100


@dataclass
class MergeReport:
    """Merged requests overall, outside the planted episodes and inside each episode."""

    requests: int = 0
    merged: int = 0
    outside: int = 0
    merged_outside: int = 0
    by_episode: dict[str, tuple[int, int]] = field(default_factory=dict)  # id -> (requests, merged)
    merged_pairs: list[tuple[str, str, float]] = field(default_factory=list)  # (new, into, score)
    pair_kinds: Counter[str] = field(default_factory=Counter)  # "channel/channel" of each merge

    @property
    def share(self) -> float:
        return self.merged / self.requests if self.requests else 0.0

    @property
    def share_outside(self) -> float:
        return self.merged_outside / self.outside if self.outside else 0.0

    def episode_share(self, episode: str) -> float:
        total, merged = self.by_episode.get(episode, (0, 0))
        return merged / total if total else 0.0

    def render(self) -> str:
        lines = [f"merged {self.merged}/{self.requests} ({self.share:.1%}); outside episodes "
                 f"{self.merged_outside}/{self.outside} ({self.share_outside:.1%})"]
        for episode, (total, merged) in sorted(self.by_episode.items()):
            lines.append(f"  {episode}: {merged}/{total} ({merged / total if total else 0:.0%})")
        if self.pair_kinds:
            lines.append("  merges by channel pair: " + ", ".join(
                f"{k} {n}" for k, n in self.pair_kinds.most_common(6)))
        return "\n".join(lines)


def snapshot_of(action_payload: dict[str, Any], *, ref: str, at: datetime) -> TicketSnapshot:
    """The detector's view of one plan submission, made the way intake makes it: the channel
    model's mapping onto a draft, then masked title + text, the category hint, the place."""
    body = to_channel_input(action_payload, occurred_at=at)
    draft = to_ticket_draft(parse_channel_input(body))
    title = mask_personal_data(draft.title) if draft.title else ""
    place = draft.place
    return TicketSnapshot(
        ticket_id=ref, text=title + mask_personal_data(draft.text), submitted_at=at,
        category=draft.category_hint, lat=place.lat if place else None,
        lon=place.lon if place else None,
        address=mask_personal_data(place.address) if place and place.address else None)


def _in_box(new: TicketSnapshot, other: TicketSnapshot) -> bool:
    if new.lat is None or new.lon is None or other.lat is None or other.lon is None:
        return True  # the projector's query keeps candidates without a pin
    dlat = CANDIDATE_RADIUS_M / 111_000
    dlon = CANDIDATE_RADIUS_M / (111_000 * max(0.1, math.cos(math.radians(new.lat))))
    return abs(other.lat - new.lat) <= dlat and abs(other.lon - new.lon) <= dlon


def measure(plan: SimPlan, policy: DuplicatePolicy | None = None) -> MergeReport:
    """Run intake's detector over every submission of ``plan``, in submission order."""
    policy = policy or DuplicatePolicy()
    episode_of = {t: e.id for e in plan.episodes for t in e.tickets}
    submits = sorted((a for a in plan.actions if a.kind == SUBMIT), key=lambda a: (a.at, a.ticket))
    seen: list[TicketSnapshot] = []
    times: list[datetime] = []
    channel_of: dict[str, str] = {}
    report = MergeReport()
    for action in submits:
        at = action.at.replace(tzinfo=CHINA)
        new = snapshot_of(action.payload, ref=action.ticket, at=at)
        channel_of[action.ticket] = action.payload["channel"]
        first = bisect.bisect_left(times, at - policy.window)
        candidates = [c for c in reversed(seen[first:])
                      if (not new.category or not c.category or c.category == new.category)
                      and _in_box(new, c)][:CANDIDATE_LIMIT]
        matches = find_duplicates(new, candidates, policy)
        merged = bool(matches)
        report.requests += 1
        report.merged += merged
        episode = episode_of.get(action.ticket)
        if episode is None:
            report.outside += 1
            report.merged_outside += merged
        else:
            total, count = report.by_episode.get(episode, (0, 0))
            report.by_episode[episode] = (total + 1, count + merged)
        if merged:
            into, score = matches[0]
            report.merged_pairs.append((action.ticket, into, score))
            report.pair_kinds["/".join(sorted((channel_of[action.ticket], channel_of[into])))] += 1
        seen.append(new)
        times.append(at)
    return report
