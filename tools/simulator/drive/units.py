"""The simulator's units mapped onto dispatch's 1+8+N registry, by their Chinese names.

The plan speaks of ``county.yingzhou`` or ``dept.water``; the platform routes to ``yingzhou`` or
``water-supply``. We match names (颍州区 ⊂ 颍州区分平台, 市城市管理局 ⊂ 阜阳市城市管理局), then a
short table for the few units whose names differ, and keep the reverse map so that when dispatch
routes a ticket elsewhere, the ACTUAL assignee acts with its own behaviour profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tools.simulator.behaviour import UNIT_PROFILES

REGISTRY_FILE = Path(__file__).resolve().parents[3] / "services" / "dispatch" / "data" / "units.json"
CITY_PREFIX = "阜阳"
# Names that do not match by text: the simulator's unit -> the registry unit doing that job.
BY_HAND = {
    "dept.water": "water-supply",         # 市水务集团: pipes and supply, i.e. the supply company
    "dept.development": "data-resources",  # 发改委 is not in the registry; 营商环境 lands at 数据资源局
}
FALLBACK_PROFILE = "steady"


@dataclass(frozen=True)
class RegistryUnit:
    code: str
    name: str
    kind: str
    parent: str | None


def load_registry(path: Path = REGISTRY_FILE) -> list[RegistryUnit]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [RegistryUnit(u["code"], u["name_zh"], u["kind"], u.get("parent")) for u in data["units"]]


class UnitMap:
    """Two-way map between simulator unit codes and registry unit codes."""

    def __init__(self, sim_names: dict[str, str], registry: list[RegistryUnit]):
        self.registry = {u.code: u for u in registry}
        self.to_registry: dict[str, str] = {}
        for sim_code, name in sim_names.items():
            found = BY_HAND.get(sim_code) or self._match(sim_code, name, sim_names)
            if found:
                self.to_registry[sim_code] = found
        for sim_code in sim_names:  # a town the registry lacks: its county acts for it
            parent = sim_code.rsplit(".", 1)[0]
            if sim_code not in self.to_registry and parent in self.to_registry:
                self.to_registry[sim_code] = self.to_registry[parent]
        self.to_sim: dict[str, str] = {}
        for sim_code, code in self.to_registry.items():
            self.to_sim.setdefault(code, sim_code)

    def _match(self, sim_code: str, name: str, sim_names: dict[str, str]) -> str | None:
        bare = name.removeprefix(CITY_PREFIX)
        if sim_code.count(".") == 2:  # a sub-district: prefer "<county><name>", else the name alone
            county = sim_names.get(sim_code.rsplit(".", 1)[0], "")
            candidates = [u for u in self.registry.values()
                          if u.kind == "subdistrict" and u.name.endswith(bare)]
            exact = [u for u in candidates if u.name == county + bare]
            chosen = exact or candidates
            return chosen[0].code if chosen else None
        for unit in self.registry.values():
            if unit.kind == "subdistrict":
                continue
            if unit.name.removeprefix(CITY_PREFIX) == bare or unit.name.startswith(bare + "分平台"):
                return unit.code
            if unit.name == bare:
                return unit.code
        return None

    def registry_code(self, sim_code: str) -> str | None:
        return self.to_registry.get(sim_code)

    def profile_of(self, registry_code: str) -> str:
        """The behaviour profile of whoever holds the assignment (a unit we do not model: its
        parent's, else steady)."""
        sim = self.to_sim.get(registry_code)
        if sim is None and registry_code in self.registry:
            parent = self.registry[registry_code].parent
            sim = self.to_sim.get(parent or "")
        if sim is None:
            return FALLBACK_PROFILE
        return UNIT_PROFILES.get(sim, UNIT_PROFILES.get(sim.rsplit(".", 1)[0], FALLBACK_PROFILE))

    def unmapped(self, sim_names: dict[str, str]) -> list[str]:
        return sorted(set(sim_names) - set(self.to_registry))

    def name_of(self, registry_code: str) -> str:
        unit = self.registry.get(registry_code)
        return unit.name if unit else registry_code

    def handling_units(self) -> list[str]:
        """Registry units that may receive assignments (everything but the master platform)."""
        return sorted(code for code, u in self.registry.items() if u.kind != "master")
