"""Who handles a simulated matter: the platform's own routing table decides, not the simulator.

Each of the simulator's subcategories names the platform subcategory it is
(``"platform"`` in ``templates.json``, a code of ``services/dispatch/data/taxonomy.json``); the
handling unit it expects is what the platform's routing table (the one a city checks,
``docs/routing-policy.md``) gives that subcategory: the county or zone of the place for a
territorial matter, else the department, named here by the simulator's code for it. So when
dispatch routes a simulated ticket elsewhere, that is a recognition error, not two policies.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

ROUTING_FILE = (Path(__file__).resolve().parents[2] / "services" / "dispatch" / "data"
                / "routing_v2.json")
TERRITORY = "territory"
# The platform's department (units.json) -> the simulator's unit for it (city.json departments;
# the driver maps them back by name, tools/simulator/drive/units.py).
SIM_DEPARTMENT = {
    "urban-mgmt": "dept.urban_management", "market-reg": "dept.market_supervision",
    "housing": "dept.housing", "property": "dept.property", "transport": "dept.transport",
    "ecology": "dept.ecology", "hrss": "dept.hrss", "education": "dept.education",
    "health": "dept.health", "medical-insurance": "dept.medical_insurance",
    "natural-resources": "dept.natural_resources", "police": "dept.police",
    "water-supply": "dept.water", "power": "dept.power", "gas": "dept.gas",
    "water-affairs": "dept.water_affairs", "civil-affairs": "dept.civil_affairs",
    "agriculture": "dept.agriculture", "data-resources": "dept.gov_services",
    "telecom": "dept.telecom", "housing-fund": "dept.housing_fund",
}


@lru_cache(maxsize=1)
def platform_rules() -> dict[str, dict[str, Any]]:
    rules: dict[str, dict[str, Any]] = json.loads(ROUTING_FILE.read_text(encoding="utf-8"))["rules"]
    return rules


def route_of(platform_subcategory: str) -> str:
    """``"territory"`` or the simulator's department code for a platform subcategory."""
    rule = platform_rules().get(platform_subcategory)
    if rule is None:
        raise KeyError(f"the platform's routing table has no rule for {platform_subcategory!r}")
    if rule["responsibility"] == "territorial":
        return TERRITORY
    return SIM_DEPARTMENT[rule["unit"]]
