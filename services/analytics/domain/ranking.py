"""The monthly 亮晒比 ranking, rectification flags and the publishable monthly report.

Composite score (docs/kpis.md §Ranking): 0.4 x completion rate + 0.4 x satisfaction
+ 0.2 x on-time rate, on the unit's figures for the month. A unit is ranked only with at
least `min_volume` tickets handled and every one of the three rates defined: ranking a unit
on three tickets would let luck, not work, decide who is summoned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.analytics.domain.figures import KpiFigures, figures
from services.analytics.domain.kpis import CITY, KpiModel

WEIGHTS = {"completion_rate": 0.4, "satisfaction": 0.4, "on_time_rate": 0.2}
MIN_VOLUME = 30
DEPARTMENT = "department"
COUNTY = "county"
SHOWN = {DEPARTMENT: 5, COUNTY: 3}  # top/bottom N published per group (fact 10)
FLAG_BOTTOM = 3  # bottom 3 two months running → 约谈整改


class UnknownUnitKindError(ValueError):
    """The unit registry named a kind the ranking does not know."""

    def __init__(self, unit: str, kind: str) -> None:
        super().__init__(f"unit {unit!r} has kind {kind!r}; expected "
                         f"{DEPARTMENT!r} (city department) or {COUNTY!r} (county/district)")


@dataclass(frozen=True)
class RankedUnit:
    unit: str
    kind: str
    rank: int | None  # None: not ranked, see `reason`
    score: float | None
    figures: KpiFigures
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "kind": self.kind, "rank": self.rank,
                "score": self.score, "reason": self.reason, **_rates(self.figures)}


def composite_score(f: KpiFigures) -> float | None:
    rates = [getattr(f, name) for name in WEIGHTS]
    if any(rate is None for rate in rates):
        return None
    return round(sum(WEIGHTS[name] * getattr(f, name) for name in WEIGHTS), 6)


def rank_units(model: KpiModel, month: str, units: dict[str, str], *,
               min_volume: int = MIN_VOLUME) -> dict[str, list[RankedUnit]]:
    """Rank every unit of the registry ({unit: 'department'|'county'}) within its group.

    Order: score desc, then completion desc, then volume desc, then unit name, so ties
    resolve the same way on every run.
    """
    groups: dict[str, list[tuple[str, KpiFigures, float | None, str]]] = {
        DEPARTMENT: [], COUNTY: []}
    for unit in sorted(units):
        kind = units[unit]
        if kind not in groups:
            raise UnknownUnitKindError(unit, kind)
        f = figures(model, "unit", unit, "month", month)
        score = composite_score(f)
        reason = ""
        if f.handled < min_volume:
            score, reason = None, f"办理量 {f.handled} 件，少于 {min_volume} 件，不参与排名"
        elif score is None:
            reason = "缺少办结率、满意率或按时答复率，不参与排名"
        groups[kind].append((unit, f, score, reason))
    result: dict[str, list[RankedUnit]] = {}
    for kind, rows in groups.items():
        ranked = sorted((r for r in rows if r[2] is not None),
                        key=lambda r: (-(r[2] or 0.0), -(r[1].completion_rate or 0.0),
                                       -r[1].handled, r[0]))
        out = [RankedUnit(u, kind, i + 1, s, f) for i, (u, f, s, _) in enumerate(ranked)]
        out += [RankedUnit(u, kind, None, None, f, why) for u, f, s, why in rows if s is None]
        result[kind] = out
    return result


def top_and_bottom(ranked: list[RankedUnit], n: int) -> tuple[list[RankedUnit],
                                                              list[RankedUnit]]:
    """Top n and bottom n of the ranked units; with fewer than 2n a unit is never in both."""
    ordered = [r for r in ranked if r.rank is not None]
    top = ordered[:n]
    bottom = [r for r in ordered[-n:] if r not in top] if ordered else []
    return top, list(reversed(bottom))  # bottom list starts with the very last


def bottom_units(ranked: list[RankedUnit], n: int = FLAG_BOTTOM, shown: int = 0) -> list[str]:
    """The last n ranked units (the 约谈整改 candidates), none of the `shown` published as
    the group's best: with few ranked units the two overlapped (four counties: ranks 2 and 3
    were in the top 3 and in the bottom 3, and flagged while published among the best)."""
    ordered = [r for r in ranked if r.rank is not None]
    if len(ordered) <= n:
        return []
    return [r.unit for r in ordered[max(len(ordered) - n, shown):]]


@dataclass(frozen=True)
class RectificationFlag:
    """约谈整改: the unit sat in its group's bottom 3 in two consecutive months."""

    unit: str
    kind: str
    month: str
    previous_month: str
    reason: str

    def as_event_payload(self) -> dict[str, str]:
        return {"unit": self.unit, "kind": self.kind, "month": self.month,
                "previous_month": self.previous_month, "reason": self.reason}


def rectification_flags(this_month: dict[str, Any],
                        last_month: dict[str, Any]) -> list[RectificationFlag]:
    """Flags from two monthly reports (as built by `monthly_report`), in unit order.

    A group with no more than 3 ranked units has no bottom 3 (everyone would be in it).
    """
    flags = []
    for kind in (DEPARTMENT, COUNTY):
        now = set(this_month["groups"][kind]["bottom3"])
        before = set(last_month["groups"][kind]["bottom3"])
        for unit in sorted(now & before):
            flags.append(RectificationFlag(
                unit, kind, this_month["month"], last_month["month"],
                f"{unit}连续两个月（{last_month['month']}、{this_month['month']}）"
                "综合得分位列后三名，约谈整改"))
    return flags


def monthly_report(model: KpiModel, month: str, units: dict[str, str], *,
                   last_month_report: dict[str, Any] | None = None,
                   min_volume: int = MIN_VOLUME) -> dict[str, Any]:
    """The report the city publishes for one month, as a plain dict (JSON-ready)."""
    ranking = rank_units(model, month, units, min_volume=min_volume)
    city = figures(model, "all", CITY, "month", month)
    groups = {}
    for kind, rows in ranking.items():
        top, bottom = top_and_bottom(rows, SHOWN[kind])
        groups[kind] = {
            "ranking": [r.as_dict() for r in rows],
            "top": [r.unit for r in top],
            "bottom": [r.unit for r in bottom],
            "bottom3": bottom_units(rows, shown=SHOWN[kind]),
        }
    report: dict[str, Any] = {
        "month": month,
        "weights": dict(WEIGHTS),
        "min_volume": min_volume,
        "city": {"received": city.received, "accepted": city.accepted,
                 "closed": city.closed, **_rates(city)},
        "groups": groups,
        "rectification": [],
    }
    if last_month_report is not None:
        report["rectification"] = [f.as_event_payload()
                                   for f in rectification_flags(report, last_month_report)]
    return report


def _rates(f: KpiFigures) -> dict[str, Any]:
    return {"handled": f.handled, "closed": f.closed,
            "completion_rate": f.completion_rate, "satisfaction": f.satisfaction,
            "on_time_rate": f.on_time_rate}
