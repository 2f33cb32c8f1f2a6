"""Display names of units, places and categories, for the public hall and the notices.

Events carry codes (`yingzhou`, `yingzhou.qinghe`, `urban-management`); people read names.
The names live in dispatch's 1+8+N registry and taxonomy files, which this adapter only
reads (a static, versioned data file, not another service's tables). A code it does not know
is shown as the code, never guessed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_PLATFORM_SUFFIX = "分平台"


@dataclass(frozen=True)
class Registry:
    unit_names: dict[str, str] = field(default_factory=dict)
    county_names: dict[str, str] = field(default_factory=dict)
    subdistrict_names: dict[str, str] = field(default_factory=dict)
    category_names: dict[str, str] = field(default_factory=dict)

    def unit_name(self, code: str) -> str:
        return self.unit_names.get(code, code)

    def county_name(self, code: str) -> str:
        return self.county_names.get(code, code)

    def subdistrict_name(self, code: str) -> str:
        return self.subdistrict_names.get(code, code)

    def category_name(self, code: str) -> str:
        return self.category_names.get(code, code)


def _read(path: Path) -> dict:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        log.warning("cannot read %s; the hall shows codes instead of names", path)
        return {}


def load_registry(units_path: Path, taxonomy_path: Path) -> Registry:
    units = _read(units_path).get("units", [])
    unit_names: dict[str, str] = {}
    counties: dict[str, str] = {}
    subdistricts: dict[str, str] = {}
    for unit in units:
        code, name, kind = unit.get("code", ""), unit.get("name_zh", ""), unit.get("kind", "")
        if not code or not name:
            continue
        unit_names[code] = name
        if kind in ("county", "zone"):
            counties[code] = name.removesuffix(_PLATFORM_SUFFIX)
    for unit in units:
        if unit.get("kind") == "subdistrict":
            county = counties.get(unit.get("parent") or "", "")
            subdistricts[unit["code"]] = unit["name_zh"].removeprefix(county)
    categories: dict[str, str] = {}
    for category in _read(taxonomy_path).get("categories", []):
        categories[category["code"]] = category["name_zh"]
        for sub in category.get("subcategories", []):
            categories[f"{category['code']}/{sub['code']}"] = sub["name_zh"]
    return Registry(unit_names, counties, subdistricts, categories)
