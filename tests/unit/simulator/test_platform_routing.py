"""The simulated city expects what the platform's routing table gives (docs/routing-policy.md):
a ticket dispatch routes elsewhere is then a recognition error, not two routing policies."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from services.dispatch.domain.routing import load_routing_table
from services.dispatch.domain.taxonomy import load_taxonomy as load_platform_taxonomy
from tools.simulator.city import load_data
from tools.simulator.drive.units import UnitMap, load_registry
from tools.simulator.routing import ROUTING_FILE, SIM_DEPARTMENT, TERRITORY, route_of
from tools.simulator.texts import load_taxonomy

ROUTING_VERSION = json.loads(ROUTING_FILE.read_text(encoding="utf-8"))["version"]


@pytest.fixture(scope="module")
def unit_map() -> UnitMap:
    departments = {d["code"]: d["name"] for d in load_data("city.json")["departments"]}
    return UnitMap(departments, load_registry())


def _simulator_matters() -> list[dict]:
    return [s for c in load_data("templates.json")["categories"] for s in c["subs"]]


def test_the_simulator_reads_the_table_dispatch_routes_by():
    assert load_routing_table(ROUTING_VERSION).version == ROUTING_VERSION


def test_every_matter_but_praise_names_a_platform_subcategory():
    platform = load_platform_taxonomy().parent_of
    matters = _simulator_matters()
    unnamed = [m["level2"] for m in matters if "platform" not in m]
    assert unnamed == ["表扬感谢"]  # praise is about whoever helped: the county of the place
    assert {m["platform"] for m in matters if "platform" in m} <= set(platform)


def test_every_simulator_matter_goes_to_the_unit_the_platforms_table_gives(unit_map):
    table = load_routing_table(ROUTING_VERSION)
    _, _, subs = load_taxonomy()
    platform_of = {m["level2"]: m.get("platform") for m in _simulator_matters()}
    checked = Counter()
    for level1, (matters, _weights) in subs.items():
        for sub in matters:
            code = platform_of[sub.level2]
            if code is None:
                assert sub.route == TERRITORY, sub.level2
                continue
            rule = table.rules[code]
            if rule.territorial:
                assert sub.route == TERRITORY, (level1, sub.level2, code)
                checked["territorial"] += 1
            else:
                # the simulator's department, as its driver maps it onto the registry
                assert unit_map.registry_code(sub.route) == rule.unit, (level1, sub.level2, code,
                                                                         sub.route)
                checked["department"] += 1
    assert checked["territorial"] >= 8 and checked["department"] >= 25


def test_matters_the_two_policies_used_to_disagree_on(unit_map):
    expected = {"医保报销": "medical-insurance", "延期交房": "property", "户籍与证件": "police",
                "办证难": "property", "广场舞噪音": "police", "住房公积金": "housing-fund",
                # session 8: what a city's 12345 does with them (docs/routing-policy.md)
                "购房补贴": "housing", "路灯不亮": "urban-mgmt", "道路违停": "police",
                "用电报装": "power", "表扬供水抢修": "water-supply", "表扬医护人员": "health"}
    _, _, subs = load_taxonomy()
    routes = {s.level2: s.route for matters, _ in subs.values() for s in matters}
    assert {k: unit_map.registry_code(routes[k]) for k in expected} == expected
    # a resettlement flat's title (征收安置) and burning straw (秸秆禁烧) are the county's
    assert routes["回迁房办证"] == routes["焚烧秸秆"] == TERRITORY


def test_every_platform_department_has_a_simulated_unit(unit_map):
    for rule in load_routing_table(ROUTING_VERSION).rules.values():
        if not rule.territorial:
            assert unit_map.registry_code(SIM_DEPARTMENT[rule.unit]) == rule.unit


def test_an_unknown_platform_subcategory_is_refused():
    with pytest.raises(KeyError):
        route_of("no-such-matter")
