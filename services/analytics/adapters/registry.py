"""Display names of units, counties and categories, from dispatch's published reference files.

Events carry codes (`yingzhou`, `urban-construction`); people read names (颍州区, 城乡建设).
The unit registry and taxonomy are reference data that dispatch publishes as files in
`services/dispatch/data/` (no tables are read). A missing file only costs the names: codes
are shown instead. Ranking groups come from the events themselves (`unit_kind` on
TicketAssigned), this file is only a fallback for units whose kind no event told us.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

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
