"""Surge alerts (突发预警): many accepted tickets of one kind from one county in a short time.

A water main bursts and a district calls within the hour. The signal is a hopping-window count
per (county, subcategory): windows of `window` minutes that start every `hop` minutes, in
business time (the event's occurred_at, so a replayed or simulated stream alerts as the live
one would). A window's count is compared with the key's baseline, the mean count of a window
of that key over the trailing `baseline_days`; a burst starts when a window reaches
`threshold(baseline)` while the key is quiet, and it stays one burst (one alert) until a whole
window passes below the threshold.

Pure: the state of one key is a small dict (JSON-ready), so the faust app keeps it in a
changelog-backed table and the offline measurement (tools/surges.py) runs the same code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DAY_S = 86_400


@dataclass(frozen=True)
class SurgeRule:
    window: timedelta = timedelta(minutes=30)
    hop: timedelta = timedelta(minutes=5)
    baseline_days: int = 14
    min_count: int = 4  # never an alert below this many tickets in one window (tools/surges.py)
    ratio: float = 6.0  # ...nor below this many times the baseline window
    # ...nor below a count the key's usual rate reaches by chance less often than this, the
    # rate taken at `daytime_factor` times the 24-hour mean (calls come in office hours):
    # a busy key needs more than a quiet one (measured at 300 and 3,000 requests a day)
    chance: float = 1e-6
    daytime_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.hop <= timedelta(0):
            raise ValueError("window and hop must be positive")
        if self.window % self.hop:
            raise ValueError("the window must be a whole number of hops")
        if self.min_count < 2 or self.baseline_days < 1:
            raise ValueError("min_count >= 2 and baseline_days >= 1")

    @property
    def hop_s(self) -> int:
        return int(self.hop.total_seconds())

    @property
    def hops_per_window(self) -> int:
        return int(self.window / self.hop)

    def threshold(self, baseline: float) -> int:
        return max(self.min_count, math.ceil(self.ratio * baseline),
                   poisson_quantile(self.daytime_factor * baseline, self.chance))


def poisson_quantile(rate: float, chance: float) -> int:
    """The smallest k with P(N >= k) < chance for N ~ Poisson(rate)."""
    if rate <= 0:
        return 1
    term = math.exp(-rate)  # P(N = 0)
    below = term  # P(N <= k - 1) for k = 1
    k = 1
    while 1 - below >= chance and k < 10_000:
        term *= rate / k
        below += term
        k += 1
    return k


@dataclass(frozen=True)
class SurgeAlert:
    """A burst started: `count` tickets in [window_start, window_end), against `baseline`."""

    county: str
    subcategory: str
    window_start: datetime
    window_end: datetime
    count: int
    baseline: float
    threshold: int
    detected_at: datetime  # business time of the ticket that tipped the window
    tickets: tuple[str, ...]  # ticket codes in the window (public codes, no personal data)

    @property
    def subject(self) -> str:
        """One id per burst: the same alert re-derived after a restart has the same subject."""
        return f"surge:{self.county}:{self.subcategory}:{self.window_start:%Y%m%dT%H%M}"

    def as_dict(self) -> dict[str, Any]:
        return {"county": self.county, "subcategory": self.subcategory,
                "window_start": self.window_start.isoformat(),
                "window_end": self.window_end.isoformat(), "count": self.count,
                "baseline": self.baseline, "threshold": self.threshold,
                "detected_at": self.detected_at.isoformat(), "tickets": list(self.tickets),
                "subject": self.subject}


def key_of(county: str, subcategory: str) -> str:
    return f"{county}|{subcategory}"


def new_state() -> dict[str, Any]:
    # hops: hop index -> [ticket codes] for the last window; days: day index -> count;
    # quiet_from: first hop at which a new burst may start
    return {"hops": {}, "days": {}, "quiet_from": 0}


def observe(rule: SurgeRule, state: dict[str, Any], *, county: str, subcategory: str,
            at: datetime, ticket: str) -> SurgeAlert | None:
    """Count one accepted ticket into the key's state (mutated); the alert if a burst starts.

    A ticket seen twice (redelivery) is counted once.
    """
    epoch = int(at.timestamp())
    hop = epoch // rule.hop_s
    day = epoch // DAY_S
    hops: dict[str, list[str]] = state["hops"]
    codes = hops.setdefault(str(hop), [])
    if ticket in codes:
        return None
    codes.append(ticket)
    days: dict[str, int] = state["days"]
    days[str(day)] = days.get(str(day), 0) + 1
    _forget(rule, state, hop, day)

    baseline = baseline_of(rule, state, day)
    threshold = rule.threshold(baseline)
    # every window holding this ticket, the earliest first: counted in business-time order
    # the first (the one ending at its hop) holds the most, the later ones hold a subset of
    # it; a ticket counted late (another partition, a late assignment) may complete a window
    # that ends after its own hop, which the first alone would miss
    per = rule.hops_per_window
    for first in range(hop - per + 1, hop + 1):
        in_window = [c for h in range(first, first + per) for c in hops.get(str(h), [])]
        if len(in_window) >= threshold:
            break
    else:
        return None
    last = first + per - 1
    alert_starts = last >= state["quiet_from"]
    # the burst lasts while windows stay high
    state["quiet_from"] = max(state["quiet_from"], last + per)
    if not alert_starts:
        return None
    start = datetime.fromtimestamp(first * rule.hop_s, UTC)
    return SurgeAlert(county=county, subcategory=subcategory, window_start=start,
                      window_end=start + rule.window, count=len(in_window),
                      baseline=round(baseline, 4), threshold=threshold, detected_at=at,
                      tickets=tuple(in_window))


def baseline_of(rule: SurgeRule, state: dict[str, Any], day: int) -> float:
    """Mean tickets of the key per window over the trailing `baseline_days` before `day`."""
    days: dict[str, int] = state["days"]
    past = sum(n for d, n in days.items() if day - rule.baseline_days <= int(d) < day)
    windows_per_day = DAY_S / rule.window.total_seconds()
    return past / (rule.baseline_days * windows_per_day)


def _forget(rule: SurgeRule, state: dict[str, Any], hop: int, day: int) -> None:
    """Keep only what a later window or baseline can still need (bounded state)."""
    oldest_hop = hop - 2 * rule.hops_per_window  # a little slack for late tickets
    state["hops"] = {h: c for h, c in state["hops"].items() if int(h) >= oldest_hop}
    oldest_day = day - rule.baseline_days
    state["days"] = {d: n for d, n in state["days"].items() if int(d) >= oldest_day}
