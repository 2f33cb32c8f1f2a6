"""Territory (属地): which county or zone, and which town or sub-district, a request is about.

Read from every word the request carries: the address (or the pin's label), the title (a
mailbox subject) and the text (a hotline summary, a WeChat message), and from the pin's
coordinates. The gazetteer is data (`data/places.json`, extended without a release by the file
named in MINSHENG_DISPATCH_PLACES_EXTRA): the county-level units and zones, every town (镇/乡)
and sub-district (街道) with its short forms, and well-known places (hospitals, schools,
sights, roads).

How names weigh (evidence strength, the confidence when it stands alone):
  county or town named in full (颍州区, 王家坝镇)          0.95
  a town's short form of 3+ characters (王家坝, 三十里铺)   0.85
  a county's short form (颍州, 太和)                       0.85
  a two-character short form (河东, 中市) only in a place phrase (河东那边, 中市社区) 0.75
  a landmark (hospital, school, sight)                      0.85; a road 0.6
A name inside a longer name (临泉 in 临泉路, 城南 in 城南新区) does not count. Two counties
named with near-equal strength, or a name that exists in two counties (城关, 赵集) with nothing
else to decide, lower the confidence to 0.5 or below and say why; routing then hands the ticket
to a dispatcher instead of guessing. Coordinates (converted from GCJ-02, which Chinese map SDKs
send, to WGS-84) decide only when the words name no place; they are tested against the city's
outline and then against coarse county boxes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.dispatch.domain.datafiles import load_json

FULL, SHORT, SHORT2, LANDMARK, ROAD = 0.95, 0.85, 0.75, 0.85, 0.6
POINT = 0.7
CONFLICT = 0.5
# A two-character short form counts only when a place word follows it: "河东那边" is a place,
# "河东狮吼" is not.
_PLACE_FOLLOWS = re.compile(
    r"^(?:村|社区|居委会|街|路|大道|集|这边|那边|那里|这里|附近|一带|境内|辖区|片区|地区|"
    r"中学|小学|中心校|卫生院|派出所|政府|镇|乡|街道|农贸市场|菜市场|车站)"
)
# ...and only when it starts a name: "阳光新村社区" is an estate, not 阜南县新村镇.
_BEFORE_A_NAME = frozenset("在到去住是从往和与及的县区市镇乡我们家这那里于")


def _starts_a_name(before: str) -> bool:
    return not before or not ("\u4e00" <= before <= "\u9fff") or before in _BEFORE_A_NAME


_URBAN_CORE = frozenset({"yingzhou", "yingdong", "yingquan", "chengnan", "fetdz", "fuhe"})


@dataclass(frozen=True)
class Place:
    address: str = ""  # the address field, or the pin's label when no address was typed
    lon: float | None = None
    lat: float | None = None
    text: str = ""  # title and text of the request: places named in the citizen's own words
    datum: str = "wgs84"  # of lon/lat: "gcj02" (WeChat, Amap, Tencent maps) or "wgs84"


@dataclass(frozen=True)
class Territory:
    county: str | None  # county or zone code; None when unknown
    subdistrict: str | None
    confidence: float
    reasons: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Name:
    """One name the gazetteer knows: which county (or counties) and town it points to."""

    text: str
    counties: tuple[str, ...]
    subdistrict: str | None
    strength: float
    what: str  # for reasons: 县区, 乡镇街道, 地标, 道路
    needs_place_word: bool = False


@dataclass(frozen=True)
class Hit:
    name: Name
    start: int
    field: str  # 地址 or 诉求内容

    @property
    def end(self) -> int:
        return self.start + len(self.name.text)


class Gazetteer:
    def __init__(self, *, names: Iterable[Name], boxes: Mapping[str, tuple[float, ...]],
                 within: Mapping[str, str], outline: tuple[tuple[float, float], ...] = (),
                 county_names: Mapping[str, str] | None = None,
                 datum_by_channel: Mapping[str, str] | None = None) -> None:
        self.names = tuple(sorted(names, key=lambda n: -len(n.text)))
        self.boxes = dict(boxes)  # min lon, min lat, max lon, max lat (WGS-84)
        self.within = dict(within)  # zone -> the district it lies in
        self.outline = outline
        self.county_names = dict(county_names or {})
        self.datum_by_channel = dict(datum_by_channel or {})
        self._by_first: dict[str, list[Name]] = {}
        for n in self.names:
            self._by_first.setdefault(n.text[0], []).append(n)
        # Where a name may start: one in ten characters of a request (`hits` looks only there,
        # found by the regular expression engine, not a Python step per character), and which
        # names may start there: those of its first two characters (a name of one character:
        # of that character), a few instead of the ~30 of a common first character.
        self._starts = re.compile(
            "[" + "".join(sorted(map(re.escape, self._by_first))) + "]" if self._by_first
            else "(?!)")
        self._by_two: dict[str, list[Name]] = {}
        for n in self.names:
            self._by_two.setdefault(n.text[:2], []).append(n)
        self._one_char = any(len(n.text) == 1 for n in self.names)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *extra: Mapping[str, Any]) -> Gazetteer:
        merged: dict[str, Any] = {k: data.get(k) for k in ("territories", "subdistricts")}
        landmarks = list(data.get("landmarks", ()))
        for more in extra:
            landmarks.extend(more.get("landmarks", ()))
        return cls(
            names=_names(merged["territories"], merged["subdistricts"] or {}, landmarks),
            boxes={k: tuple(v["bbox"]) for k, v in merged["territories"].items() if "bbox" in v},
            within={k: v["within"] for k, v in merged["territories"].items() if v.get("within")},
            outline=tuple(tuple(p) for p in data.get("city_outline", ())),  # type: ignore[misc]
            county_names={k: v.get("name", k) for k, v in merged["territories"].items()},
            datum_by_channel=data.get("coordinate_datum_by_channel", {}),
        )

    def datum_of(self, channel: str) -> str:
        return self.datum_by_channel.get(channel, "wgs84")

    # --- locating ---

    def locate(self, place: Place) -> Territory:
        by_words = self.from_words(address=place.address, text=place.text)
        by_point = None
        if place.lon is not None and place.lat is not None:
            by_point = self.from_point(place.lon, place.lat, datum=place.datum)
        if by_words.county and by_point and by_point.county:
            if self._same_area(by_words.county, by_point.county):
                return Territory(by_words.county, by_words.subdistrict,
                                 min(0.99, by_words.confidence + 0.03),
                                 by_words.reasons + by_point.reasons)
            if {by_words.county, by_point.county} <= _URBAN_CORE:
                # The urban districts' boxes are too coarse to contradict a named place.
                return Territory(by_words.county, by_words.subdistrict,
                                 min(by_words.confidence, 0.85),
                                 by_words.reasons + by_point.reasons + ("坐标为粗略边界，以文字为准",))
            return Territory(by_words.county, by_words.subdistrict, 0.45,
                             by_words.reasons + by_point.reasons + ("文字地名与坐标不一致",))
        if by_words.county:
            return by_words
        if by_point and by_point.county:
            return Territory(by_point.county, None, by_point.confidence,
                             by_words.reasons + by_point.reasons)
        reasons = by_words.reasons + (by_point.reasons if by_point else ())
        return Territory(None, None, 0.0, reasons or ("未能识别属地",))

    def from_words(self, *, address: str = "", text: str = "") -> Territory:
        hits: list[Hit] = []
        said: set[str] = set()  # the text often repeats the address: one name counts once
        for h in self.hits(address, "地址") + self.hits(text, "诉求内容"):
            if h.name.text not in said:
                said.add(h.name.text)
                hits.append(h)
        if not hits:
            return Territory(None, None, 0.0, ())
        scores: dict[str, float] = {}
        support: dict[str, list[Hit]] = {}
        ambiguous: list[Hit] = []
        for h in hits:
            if len(h.name.counties) > 1:
                ambiguous.append(h)
                continue
            c = h.name.counties[0]
            scores[c] = max(scores.get(c, 0.0), h.name.strength)
            support.setdefault(c, []).append(h)
        for zone, district in self.within.items():  # 颍州区城南新区: the zone is the answer
            if zone in scores and district in scores:
                scores[zone] = max(scores[zone], scores.pop(district))
                support[zone] += support.pop(district)
        for h in ambiguous:  # 太和县城关镇: the county decides which 城关
            named = [c for c in h.name.counties if c in scores]
            if len(named) == 1:
                support[named[0]].append(h)
        if not scores:
            h = ambiguous[0]
            where = "、".join(self.county_names.get(c, c) for c in h.name.counties)
            return Territory(h.name.counties[0], None, 0.4,
                             (f"{h.field}含“{h.name.text}”，{where}都有此地名，无法确定",))
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        best, strength = ranked[0]
        reasons = tuple(self._reason(h) for h in support[best])
        confidence = min(0.99, strength + 0.02 * (len(support[best]) - 1))
        sub = next((h.name.subdistrict for h in support[best] if h.name.subdistrict), None)
        if len(ranked) > 1:
            other, other_strength = ranked[1]
            reasons += tuple(self._reason(h) for h in support[other])
            if other_strength >= strength - 0.15:
                both = (f"同时提到{self.county_names.get(best, best)}和"
                        f"{self.county_names.get(other, other)}，属地不确定")
                return Territory(best, sub, CONFLICT, (*reasons, both))
            confidence -= 0.1
        unresolved = [h for h in ambiguous if best not in h.name.counties]
        if unresolved:
            confidence -= 0.05
        return Territory(best, sub, round(confidence, 4), reasons)

    def hits(self, words: str, field: str) -> list[Hit]:
        """Names found in `words`, longest first, none inside another found name."""
        if not words:
            return []
        found: list[Hit] = []
        by_two, starts = self._by_two, words.startswith
        for m in self._starts.finditer(words):
            i = m.start()
            for n in by_two.get(words[i:i + 2], ()):
                if starts(n.text, i):
                    found.append(Hit(n, i, field))
            if self._one_char and i + 1 < len(words):  # a one-character name at i
                found.extend(Hit(n, i, field) for n in by_two.get(m.group(), ()))
        if not found:
            return found
        taken = [False] * len(words)
        found.sort(key=lambda h: (-len(h.name.text), h.start))
        kept: list[Hit] = []
        for h in found:
            if any(taken[h.start:h.end]):
                continue
            if h.name.needs_place_word and not (
                    _PLACE_FOLLOWS.match(words[h.end:h.end + 4])
                    and _starts_a_name(words[h.start - 1] if h.start else "")):
                continue
            for k in range(h.start, h.end):
                taken[k] = True
            kept.append(h)
        return kept

    def without_places(self, words: str) -> str:
        """`words` with every place name blanked: where a matter is says nothing of what it is
        (and a classifier that learnt "颍上" from a few examples would guess by it)."""
        out = list(words)
        for h in self.hits(words, ""):
            out[h.start:h.end] = " " * (h.end - h.start)
        return "".join(out)

    def from_point(self, lon: float, lat: float, *, datum: str = "wgs84") -> Territory | None:
        if datum == "gcj02":
            lon, lat = gcj02_to_wgs84(lon, lat)
        where = f"坐标约({lon:.2f},{lat:.2f})"  # ~1 km: a reason must not pinpoint a home
        if self.outline and not point_in_polygon(lon, lat, self.outline):
            return Territory(None, None, 0.0, (f"{where}在阜阳市界外",))

        def area(b: tuple[float, ...]) -> float:
            return (b[2] - b[0]) * (b[3] - b[1])

        # Zones sit inside districts: test the smaller boxes first.
        for code, box in sorted(self.boxes.items(), key=lambda kv: area(kv[1])):
            if box[0] <= lon < box[2] and box[1] <= lat < box[3]:
                return Territory(code, None, POINT, (f"{where}落在{code}的粗略边界内",))
        return Territory(None, None, 0.0, (f"{where}在市内但不在任何县区的粗略边界内",))

    def _same_area(self, a: str, b: str) -> bool:
        return a == b or self.within.get(a) == b or self.within.get(b) == a

    def _reason(self, h: Hit) -> str:
        target = h.name.subdistrict or h.name.counties[0]
        return f"{h.field}含“{h.name.text}”（{h.name.what}）→{target}"


def _names(territories: Mapping[str, Any], subdistricts: Mapping[str, Any],
           landmarks: Iterable[Mapping[str, Any]]) -> list[Name]:
    names: list[Name] = []
    for code, t in territories.items():
        for alias in t["aliases"]:
            strength = FULL if alias == t.get("name", alias) or len(alias) >= 4 else SHORT
            names.append(Name(alias, (code,), None, strength, "县区"))
    for code, s in subdistricts.items():
        full, aliases = (s["name"], s["aliases"]) if isinstance(s, Mapping) else (s[0], s)
        county = code.split(".")[0]
        for alias in aliases:
            if alias == full or alias.endswith(("镇", "乡", "街道")):
                strength, needs = FULL, False
            elif len(alias) >= 3:
                strength, needs = SHORT, False
            else:
                strength, needs = SHORT2, True
            names.append(Name(alias, (county,), code, strength, "乡镇街道", needs))
    for lm in landmarks:
        strength = ROAD if lm.get("kind") == "road" else LANDMARK
        what = "道路" if lm.get("kind") == "road" else "地标"
        for alias in (lm["name"], *lm.get("aliases", ())):
            names.append(Name(alias, (lm["county"],), lm.get("subdistrict"), strength, what))
    return _merge_same_text(names)


def _merge_same_text(names: list[Name]) -> list[Name]:
    """One name per text: the same short form in two counties (城关, 赵集) becomes ambiguous."""
    by_text: dict[str, list[Name]] = {}
    for n in names:
        by_text.setdefault(n.text, []).append(n)
    merged = []
    for text, same in by_text.items():
        counties = tuple(dict.fromkeys(c for n in same for c in n.counties))
        if len(counties) == 1:
            merged.append(max(same, key=lambda n: n.strength))
            continue
        merged.append(Name(text, counties, None, min(n.strength for n in same), "多地同名",
                           any(n.needs_place_word for n in same)))
    return merged


# --- coordinates ---

_A, _EE = 6378245.0, 0.00669342162296594323


def _delta(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
            + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
            + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3)
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
            + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
            + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
            + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    dlon, dlat = _delta(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """Inverse of the GCJ-02 offset by fixed-point iteration (error well under a metre)."""
    wlon, wlat = lon, lat
    for _ in range(3):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (glon - lon), wlat - (glat - lat)
    return wlon, wlat


def point_in_polygon(lon: float, lat: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    j = len(polygon) - 1
    for i, (xi, yi) in enumerate(polygon):
        xj, yj = polygon[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def load_gazetteer(extra: Iterable[Mapping[str, Any]] = ()) -> Gazetteer:
    """The gazetteer of `data/places.json`, plus operators' landmark files (`extra`)."""
    return Gazetteer.from_dict(load_json("places.json"), *extra)
