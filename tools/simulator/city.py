"""The simulated city: territories, departments, estates on roads, shops and companies.

Everything is built from the data files under ``data/`` by a seeded ``random.Random`` handed in
by the caller, so the same seed always yields the same city and nothing here touches global
random state or does I/O at import time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

ESTATES_PER_TERRITORY = 30
SHOPS_PER_TERRITORY = 25
COMPANIES_PER_TERRITORY = 8


@cache
def load_data(name: str) -> dict[str, Any]:
    """Read one JSON data file of the simulator (cached: the files never change at run time)."""
    text = resources.files("tools.simulator").joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class Subdistrict:
    code: str
    name: str
    territory: str


@dataclass(frozen=True, slots=True)
class Estate:
    """A residential estate: a made-up name at a plausible road, with a point inside its territory."""

    name: str
    territory: str
    subdistrict: str
    road: str
    number: int
    lon: float
    lat: float


@dataclass(slots=True)
class Territory:
    """A county-level unit (one of the 8) or a development zone such as 城南新区."""

    code: str
    name: str
    kind: str
    box: tuple[float, float, float, float]
    subdistricts: list[Subdistrict]
    roads: list[str]
    weight: float
    estates: list[Estate] = field(default_factory=list)
    shops: list[str] = field(default_factory=list)
    companies: list[str] = field(default_factory=list)

    def contains(self, lon: float, lat: float) -> bool:
        west, south, east, north = self.box
        return west <= lon <= east and south <= lat <= north


@dataclass(slots=True)
class City:
    territories: list[Territory]
    departments: dict[str, str]
    schools: list[str]
    hospitals: list[str]

    def territory(self, code: str) -> Territory:
        for territory in self.territories:
            if territory.code == code:
                return territory
        raise KeyError(code)

    def unit_names(self) -> dict[str, str]:
        """Every handling unit the simulator names, code → Chinese name."""
        names = {t.code: t.name for t in self.territories}
        names.update(self.departments)
        for territory in self.territories:
            names.update({s.code: s.name for s in territory.subdistricts})
        return names

    def subdistrict_by_name(self, name: str) -> Subdistrict:
        for territory in self.territories:
            for sub in territory.subdistricts:
                if sub.name == name:
                    return sub
        raise KeyError(name)


# Relative request volume per territory: roughly population, the urban districts busier per head.
TERRITORY_WEIGHTS = {
    "county.yingzhou": 1.3, "county.yingdong": 1.0, "county.yingquan": 1.0, "county.jieshou": 0.8,
    "county.linquan": 1.4, "county.taihe": 1.3, "county.funan": 1.0, "county.yingshang": 1.1,
    "zone.chengnan": 0.6,
}


def build_city(rng: random.Random) -> City:
    """Build the city model; estates, shops and companies are drawn from ``rng``."""
    data = load_data("city.json")
    territories = []
    for raw in data["territories"]:
        subs = [Subdistrict(f"{raw['code']}.s{i + 1}", name, raw["code"])
                for i, name in enumerate(raw["subdistricts"])]
        territory = Territory(raw["code"], raw["name"], raw["kind"], tuple(raw["box"]), subs,
                              list(raw["roads"]), TERRITORY_WEIGHTS[raw["code"]])
        _populate(territory, data, rng)
        territories.append(territory)
    departments = {d["code"]: d["name"] for d in data["departments"]}
    return City(territories, departments, list(data["schools"]), list(data["hospitals"]))


def _populate(territory: Territory, data: dict[str, Any], rng: random.Random) -> None:
    names: set[str] = set()
    while len(names) < ESTATES_PER_TERRITORY:
        names.add(rng.choice(data["estate_prefixes"]) + rng.choice(data["estate_suffixes"]))
    west, south, east, north = territory.box
    for name in sorted(names):
        # Keep a margin from the box edge so a jittered report pin stays inside the territory.
        lon = round(rng.uniform(west + 0.004, east - 0.004), 6)
        lat = round(rng.uniform(south + 0.004, north - 0.004), 6)
        territory.estates.append(Estate(name, territory.code, rng.choice(territory.subdistricts).name,
                                        rng.choice(territory.roads), rng.randint(1, 399), lon, lat))
    shops: set[str] = set()
    while len(shops) < SHOPS_PER_TERRITORY:
        shops.add(rng.choice(data["shop_prefixes"]) + rng.choice(data["shop_kinds"]))
    territory.shops = sorted(shops)
    companies: set[str] = set()
    while len(companies) < COMPANIES_PER_TERRITORY:
        companies.add(f"阜阳市{rng.choice(data['company_words'])}{rng.choice(data['company_kinds'])}")
    territory.companies = sorted(companies)
