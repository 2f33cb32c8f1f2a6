"""Territory (属地): which county or zone, and which sub-district, a place lies in.

From the address text (county, sub-district, road and landmark names) and/or from
coordinates (rough boundary boxes). The boxes are deliberately coarse; an address name
match is trusted more than a coordinate, and a disagreement lowers the confidence so that
routing hands the ticket to a dispatcher instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.dispatch.domain.datafiles import load_json


@dataclass(frozen=True)
class Place:
    address: str = ""
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class Territory:
    county: str | None  # county or zone code; None when unknown
    subdistrict: str | None
    confidence: float
    reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Gazetteer:
    territory_aliases: Mapping[str, tuple[str, ...]]
    boxes: Mapping[str, tuple[float, float, float, float]]  # min lon, min lat, max lon, max lat
    subdistrict_aliases: Mapping[str, tuple[str, ...]]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Gazetteer:
        terr = data["territories"]
        return cls(
            territory_aliases={k: tuple(v["aliases"]) for k, v in terr.items()},
            boxes={k: tuple(v["bbox"]) for k, v in terr.items() if "bbox" in v},  # type: ignore[misc]
            subdistrict_aliases={k: tuple(v) for k, v in data["subdistricts"].items()},
        )

    def locate(self, place: Place) -> Territory:
        by_text = self._from_address(place.address) if place.address else None
        by_point = (
            self._from_point(place.lon, place.lat)
            if place.lon is not None and place.lat is not None
            else None
        )
        if by_text and by_text.county and by_point and by_point.county:
            if by_text.county == by_point.county:
                return Territory(
                    by_text.county,
                    by_text.subdistrict,
                    min(0.99, by_text.confidence + 0.05),
                    by_text.reasons + by_point.reasons,
                )
            return Territory(
                by_text.county,
                by_text.subdistrict,
                0.4,
                by_text.reasons + by_point.reasons + ("地址与坐标不一致",),
            )
        for found in (by_text, by_point):
            if found and found.county:
                return found
        return Territory(None, None, 0.0, ("未能识别属地",))

    def _from_address(self, address: str) -> Territory | None:
        county = self._longest_match(address, self.territory_aliases)
        sub = self._longest_match(address, self.subdistrict_aliases)
        if sub:
            sub_code, sub_alias = sub
            sub_county = sub_code.split(".")[0]
            reason = f"地址含“{sub_alias}”→{sub_code}"
            if county and county[0] != sub_county:
                return Territory(county[0], None, 0.4, (reason, f"但也含“{county[1]}”→{county[0]}"))
            # A two-character alias (河东, 中市) can appear by chance in other words.
            confidence = 0.95 if county else (0.85 if len(sub_alias) > 2 else 0.6)
            return Territory(sub_county, sub_code, confidence, (reason,))
        if county:
            return Territory(county[0], None, 0.9, (f"地址含“{county[1]}”→{county[0]}",))
        return None

    def _from_point(self, lon: float, lat: float) -> Territory | None:
        # Zones sit inside districts: test the smaller boxes first.
        def area(b: tuple[float, float, float, float]) -> float:
            return (b[2] - b[0]) * (b[3] - b[1])

        for code, box in sorted(self.boxes.items(), key=lambda kv: area(kv[1])):
            if box[0] <= lon < box[2] and box[1] <= lat < box[3]:
                return Territory(
                    code, None, 0.7, (f"坐标({lon:.4f},{lat:.4f})落在{code}的粗略边界内",)
                )
        return None

    @staticmethod
    def _longest_match(text: str, aliases: Mapping[str, tuple[str, ...]]) -> tuple[str, str] | None:
        best: tuple[str, str] | None = None
        for code, names in aliases.items():
            for name in names:
                if name in text and (best is None or len(name) > len(best[1])):
                    best = (code, name)
        return best


def load_gazetteer() -> Gazetteer:
    return Gazetteer.from_dict(load_json("places.json"))
