"""KPI figures read from a bucket of counters: the definitions in docs/kpis.md, as code."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.analytics.domain.kpis import KpiModel


@dataclass(frozen=True)
class KpiFigures:
    """The published figures of one (dimension, value, period). Rates are 0..1 or None
    when their denominator is zero (a rate over nothing is not 0%)."""

    dimension: str
    value: str
    kind: str
    period: str
    received: int
    accepted: int
    handled: int
    closed: int
    closed_in_period: int
    completion_rate: float | None
    on_time_rate: float | None
    satisfaction: float | None
    rated: int
    reopen_rate: float | None
    bounce_back_rate: float | None
    sign_for_mean_minutes: float | None
    sign_for_median_minutes: float | None
    handling_mean_minutes: float | None
    handling_median_minutes: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def histogram_mean(histogram: dict[str, int]) -> float | None:
    count = sum(histogram.values())
    if count == 0:
        return None
    return sum(int(v) * n for v, n in histogram.items()) / count


def histogram_median(histogram: dict[str, int]) -> float | None:
    """Median of the stored minutes; with an even count, the mean of the two middle ones."""
    items = sorted((int(v), n) for v, n in histogram.items() if n > 0)
    count = sum(n for _, n in items)
    if count == 0:
        return None
    wanted = [(count - 1) // 2, count // 2]  # 0-based ranks of the middle value(s)
    found: list[int] = []
    seen = 0
    for value, n in items:
        while wanted and wanted[0] < seen + n:
            found.append(value)
            wanted.pop(0)
        seen += n
    return (found[0] + found[1]) / 2


def figures(model: KpiModel, dimension: str, value: str, kind: str,
            period: str) -> KpiFigures:
    """Figures of one bucket. For a unit, 'received' is what was assigned to it, 'accepted'
    what it signed for, and 'handled' (the completion denominator) the tickets it kept: each
    ticket once (a reassignment after a reopen is not a second ticket), none it bounced back,
    transferred away or had withdrawn by a merge. For the other dimensions 'handled' is the
    accepted tickets."""
    b = model.bucket(dimension, value, kind, period)
    is_unit = dimension == "unit"
    received = b["assigned"] if is_unit else b["received"]
    accepted = b["signed_for"] if is_unit else b["accepted"]
    handled = b["kept"] if is_unit else b["accepted"]
    return KpiFigures(
        dimension=dimension, value=value, kind=kind, period=period,
        received=received, accepted=accepted, handled=handled,
        closed=b["closed"], closed_in_period=b["closed_in_period"],
        completion_rate=ratio(b["closed"], handled),
        on_time_rate=ratio(b["replied_on_time"], b["replied"]),
        satisfaction=ratio(b["satisfaction_points_x10"], 1000 * b["rated"]),
        rated=b["rated"],
        reopen_rate=ratio(b["reopened"], b["ever_closed"]),
        bounce_back_rate=ratio(b["bounced_back"], b["assigned"]),
        sign_for_mean_minutes=histogram_mean(b["sign_for_minutes"]),
        sign_for_median_minutes=histogram_median(b["sign_for_minutes"]),
        handling_mean_minutes=histogram_mean(b["handling_minutes"]),
        handling_median_minutes=histogram_median(b["handling_minutes"]),
    )


def table(model: KpiModel, dimension: str, kind: str, period: str) -> list[KpiFigures]:
    """Figures of every value of a dimension in one period, sorted by value."""
    return [figures(model, dimension, v, kind, period)
            for v in model.values(dimension, kind, period)]
