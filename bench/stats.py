"""Percentiles and medians, the way the report states them."""

from __future__ import annotations

import math
import statistics


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    # the smallest value with at least p % of the values at or below it
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
