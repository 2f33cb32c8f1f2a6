"""Display names of units, counties and categories, and the city's place names, from
dispatch's published reference files.

Events carry codes (`yingzhou`, `urban-construction`); people read names (颍州区, 城乡建设).
The unit registry and taxonomy are reference data that dispatch publishes as files in
`services/dispatch/data/` (no tables are read). A missing file only costs the names: codes
are shown instead. Ranking groups come from the events themselves (`unit_kind` on
TicketAssigned), this file is only a fallback for units whose kind no event told us.
The place names (`load_place_names`) are dispatch's gazetteer, `places.json`, plus the
operators' landmark file (MINSHENG_DISPATCH_PLACES_EXTRA: a city's estates and roads): hot
topics keep them out of their terms (where a matter is, not what it is).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "dispatch" / "data"
# Ranking groups of the registry's unit kinds: development zones are territorial units and
# rank with the counties and districts (MISSION fact 2); utilities, sub-districts and the
# master platform are not ranked (fact 10 names city departments and counties).
RANKING_GROUP = {"department": "department", "county": "county", "zone": "county"}


@dataclass(frozen=True)
class Names:
    units: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)

    def unit(self, code: str) -> str:
        return self.units.get(code, code)

    def county(self, code: str) -> str:
        return self.unit(code).removesuffix("分平台")

    def category(self, code: str) -> str:
        return self.categories.get(code, code)

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {"units": self.units, "counties": {c: self.county(c) for c in self.units},
                "categories": self.categories}


def load_names(directory: Path | None = None) -> Names:
    folder = directory or DEFAULT_DIR
    try:
        units = json.loads((folder / "units.json").read_text(encoding="utf-8"))["units"]
        taxonomy = json.loads((folder / "taxonomy.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("no unit registry or taxonomy in %s (%s); showing codes", folder, exc)
        return Names()
    categories: dict[str, str] = {}
    for c in taxonomy.get("categories", []):
        categories[c["code"]] = c["name_zh"]
        for sub in c.get("subcategories", []):
            categories.setdefault(sub["code"], sub["name_zh"])
    return Names(units={u["code"]: u.get("name_zh") or u["code"] for u in units},
                 kinds={u["code"]: u["kind"] for u in units}, categories=categories)


def ranking_groups(unit_kinds: dict[str, str], names: Names) -> dict[str, str]:
    """{unit: 'department' | 'county'} of every unit that is ranked."""
    kinds = {u: k or names.kinds.get(u, "") for u, k in unit_kinds.items()}
    return {u: RANKING_GROUP[k] for u, k in kinds.items() if k in RANKING_GROUP}


def place_names(gazetteer: Mapping[str, Any]) -> set[str]:
    """Every name and short form of a gazetteer file (`places.json` or a landmark file):
    counties and zones, towns and sub-districts, landmarks (roads, estates, hospitals...)."""
    subdistricts = (gazetteer.get("subdistricts") or {}).values()
    entries: Iterable[Any] = (*(gazetteer.get("territories") or {}).values(), *subdistricts,
                              *(gazetteer.get("landmarks") or ()))
    names: set[str] = set()
    for entry in entries:
        if isinstance(entry, Mapping):
            names.update((entry.get("name") or "", *(entry.get("aliases") or ())))
        else:  # a sub-district as a plain list of its names (dispatch reads both)
            names.update(entry)
    names.discard("")
    return names


def load_place_names(directory: Path | None = None, extra: str = "") -> frozenset[str]:
    """The names of dispatch's gazetteer (`places.json` in `directory`, default dispatch's
    data) and of the operators' landmark file `extra` (the file dispatch reads,
    MINSHENG_DISPATCH_PLACES_EXTRA). A missing gazetteer only costs hot topics' place filter;
    a configured landmark file that cannot be read stops the start, as it stops dispatch's."""
    folder = directory or DEFAULT_DIR
    try:
        names = place_names(json.loads((folder / "places.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        log.warning("no gazetteer in %s (%s); hot terms may name places", folder, exc)
        names = set()
    if extra:
        names |= place_names(json.loads(Path(extra).read_text(encoding="utf-8")))
    return frozenset(names)
