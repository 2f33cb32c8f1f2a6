"""Where tickets are, for the dashboard's map: counts per map cell, never a ticket's point.

A ticket's point is derived from the citizen's address; the dashboard only needs to see where
requests gather, so points are snapped to a grid of CELL_DEG degrees (about 1 km here) when
the fact is made, and the map counts tickets per cell.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from services.analytics.domain.facts import Fact
from services.analytics.domain.fold import ticket_dims

CELL_DEG = 0.01


def snap(value: float) -> float:
    """A coordinate snapped to the map grid (the cell's centre)."""
    return round(round(value / CELL_DEG) * CELL_DEG, 4)


@dataclass(frozen=True)
class MapCell:
    lon: float
    lat: float
    county: str
    count: int

    def as_dict(self) -> dict[str, object]:
        return {"lon": self.lon, "lat": self.lat, "county": self.county, "count": self.count}


def map_cells(tickets: Iterable[Iterable[Fact]], start: datetime, end: datetime
              ) -> list[MapCell]:
    """Tickets submitted in [start, end) with a point, counted per (cell, county); busiest
    first."""
    counts: Counter[tuple[float, float, str]] = Counter()
    for facts in tickets:
        ordered = sorted(facts, key=Fact.sort_key)
        submitted = next((f for f in ordered if f.kind == "submitted"), None)
        if submitted is None or not (start <= submitted.at < end):
            continue
        lon, lat = submitted.get("lon", None), submitted.get("lat", None)
        if lon is None or lat is None:
            continue
        counts[(snap(lon), snap(lat), ticket_dims(ordered)["county"])] += 1
    return [MapCell(lon, lat, county, n)
            for (lon, lat, county), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
