"""Acceptance rules: a submitted ticket is accepted, or rejected with a reason the citizen is told.

Rules run in a fixed order (empty, emergency, out of scope, abusive, already answered) so the
citizen hears the most useful reason first: someone reporting a fire must hear "call 119" before
anything else. Location is never a reason to reject, only a flag: the boundary is rough, and a
request from just outside the city may still concern it.

Rule lists live in ``services/intake/data/acceptance_rules.json``; the city outline in
``fuyang_boundary.json``. Both are loaded by functions, never at import.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from services.intake.domain.answered import AnsweredRule, AnsweredTicket, find_answered, reason_text

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class RejectionReason(StrEnum):
    EMPTY = "empty"
    EMERGENCY = "emergency_redirect"  # belongs to 110/119/120, not to the hotline
    OUT_OF_SCOPE = "out_of_scope"
    ABUSIVE = "abusive"
    ALREADY_ANSWERED = "already_answered"


class AcceptanceFlag(StrEnum):
    OUTSIDE_CITY = "outside_city"
    NO_LOCATION = "no_location"
    CONTAINS_ABUSE = "contains_abuse"  # rude words, but with a real request: accepted


@dataclass(frozen=True, slots=True)
class Acceptance:
    flags: tuple[AcceptanceFlag, ...] = ()

    @property
    def accepted(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Rejection:
    reason_code: RejectionReason
    reason_text_zh: str

    @property
    def accepted(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class ScopeRule:
    terms: tuple[str, ...]
    reason_text_zh: str


@dataclass(frozen=True, slots=True)
class AcceptanceRules:
    min_meaningful_chars: int
    emergency: ScopeRule
    out_of_scope: tuple[ScopeRule, ...]
    abusive: ScopeRule
    empty_reason_text_zh: str
    already_answered_reason_text_zh: str
    already_answered_window: timedelta
    already_answered_similarity: float

    @property
    def already_answered(self) -> AnsweredRule:
        return AnsweredRule(self.already_answered_window, self.already_answered_similarity,
                            self.already_answered_reason_text_zh)


@dataclass(frozen=True, slots=True)
class Submission:
    """What the rules look at: masked or clear text both work, the rules ignore personal data."""

    text: str
    submitted_at: datetime
    attachment_count: int = 0
    lat: float | None = None
    lon: float | None = None
    previously_answered: Sequence[AnsweredTicket] = field(default_factory=tuple)
    citizen: str | None = None  # pseudonym; None = anonymous
    category_hint: str | None = None


def _rule(raw: dict[str, Any]) -> ScopeRule:
    return ScopeRule(tuple(raw["terms"]), raw["reason_text_zh"])


def load_acceptance_rules(path: Path | None = None) -> AcceptanceRules:
    raw = json.loads((path or DATA_DIR / "acceptance_rules.json").read_text(encoding="utf-8"))
    return AcceptanceRules(
        min_meaningful_chars=raw["min_meaningful_chars"],
        emergency=_rule(raw["emergency"]),
        out_of_scope=tuple(_rule(r) for r in raw["out_of_scope"]),
        abusive=_rule(raw["abusive"]),
        empty_reason_text_zh=raw["empty_reason_text_zh"],
        already_answered_reason_text_zh=raw["already_answered_reason_text_zh"],
        already_answered_window=timedelta(days=raw["already_answered_days"]),
        already_answered_similarity=raw["already_answered_similarity"],
    )


@dataclass(frozen=True, slots=True)
class CityBoundary:
    polygon: tuple[tuple[float, float], ...]  # (lon, lat)

    def contains(self, lat: float, lon: float) -> bool:
        """Ray casting; points exactly on an edge may fall either way (the outline is rough)."""
        inside = False
        pts = self.polygon
        for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
            if (y1 > lat) != (y2 > lat):
                x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
                if lon < x_cross:
                    inside = not inside
        return inside


def load_city_boundary(path: Path | None = None) -> CityBoundary:
    raw = json.loads((path or DATA_DIR / "fuyang_boundary.json").read_text(encoding="utf-8"))
    return CityBoundary(tuple((float(lon), float(lat)) for lon, lat in raw["polygon"]))


_NOISE_RE = re.compile(r"[\s\W_\d]+", re.UNICODE)


def _meaningful(text: str) -> str:
    """Letters and Han characters only: what is left when punctuation, digits and emoji go."""
    return _NOISE_RE.sub("", text)


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def _strip_terms(text: str, terms: Sequence[str]) -> str:
    for term in terms:
        text = text.replace(term, "")
    return text


def review(submission: Submission, *, rules: AcceptanceRules, city: CityBoundary) -> Acceptance | Rejection:
    """Decide whether a submission becomes an accepted ticket."""
    meaningful = _meaningful(submission.text)
    if len(meaningful) < rules.min_meaningful_chars and submission.attachment_count == 0:
        return Rejection(RejectionReason.EMPTY, rules.empty_reason_text_zh)
    compact = _compact(submission.text)
    if any(term in compact for term in rules.emergency.terms):
        return Rejection(RejectionReason.EMERGENCY, rules.emergency.reason_text_zh)
    for scope_rule in rules.out_of_scope:
        if any(term in compact for term in scope_rule.terms):
            return Rejection(RejectionReason.OUT_OF_SCOPE, scope_rule.reason_text_zh)
    flags: list[AcceptanceFlag] = []
    abuse = [t for t in rules.abusive.terms if t in compact]
    if abuse:
        # Angry citizens with a real problem are still served; only abuse with no request is refused.
        rest = _meaningful(_strip_terms(compact, abuse))
        if len(rest) < 2 * rules.min_meaningful_chars:
            return Rejection(RejectionReason.ABUSIVE, rules.abusive.reason_text_zh)
        flags.append(AcceptanceFlag.CONTAINS_ABUSE)
    answered = _already_answered(submission, rules)
    if answered is not None:
        return answered
    if submission.lat is None or submission.lon is None:
        flags.append(AcceptanceFlag.NO_LOCATION)
    elif not city.contains(submission.lat, submission.lon):
        flags.append(AcceptanceFlag.OUTSIDE_CITY)
    return Acceptance(tuple(flags))


def _already_answered(submission: Submission, rules: AcceptanceRules) -> Rejection | None:
    rule = rules.already_answered
    previous = find_answered(
        citizen=submission.citizen, text=submission.text,
        category_hint=submission.category_hint, submitted_at=submission.submitted_at,
        answered=submission.previously_answered, rule=rule)
    if previous is None:
        return None
    return Rejection(RejectionReason.ALREADY_ANSWERED, reason_text(rule, previous))
