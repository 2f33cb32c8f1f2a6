"""Territory and routing, and routing accuracy on the held-out labelled requests.

Routing v2 (calibrated classifier threshold, territory judged on its own at 0.75) on the held-out
part: see docs/recognition-results.md; the thresholds below sit under the measured figures.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from services.dispatch.domain.labelled import score_routing
from services.dispatch.domain.places import Place
from services.dispatch.domain.routing import (
    NeedsDispatcher,
    RoutingDecision,
    RoutingTable,
    RoutingTableError,
    route,
    unit_confidence,
)


@dataclass(frozen=True)
class Given:
    subcategory: str
    confidence: float = 0.99
    distribution: tuple[tuple[str, float], ...] = ()
    other_matters: tuple[str, ...] = ()


def test_the_routing_table_covers_the_taxonomy_with_registered_units(
    routing_table, registry, taxonomy
):
    routing_table.check_against(registry, set(taxonomy.parent_of))
    broken = replace(
        routing_table,
        rules={
            **routing_table.rules,
            "taxi": replace(routing_table.rules["taxi"], unit="no-such-unit"),
        },
    )
    with pytest.raises(RoutingTableError):
        broken.check_against(registry, set(taxonomy.parent_of))


def go(sub, place, table, gazetteer, registry, confidence=0.99):
    return route(Given(sub, confidence), place, table=table, gazetteer=gazetteer, registry=registry)


def test_territorial_matters_go_to_the_county_sub_platform(routing_table, gazetteer, registry):
    d = go("property", Place("颍州区清河街道锦绣花园"), routing_table, gazetteer, registry)
    assert isinstance(d, RoutingDecision)
    assert (d.unit_code, d.subdistrict_hint, d.table_version) == ("yingzhou", "yingzhou.qinghe", 1)
    d = go("city-appearance", Place("城南新区三清路"), routing_table, gazetteer, registry)
    assert d.unit_code == "chengnan"


def test_departmental_matters_go_to_the_department_wherever_they_happen(
    routing_table, gazetteer, registry
):
    for sub, unit in [
        ("gas-supply", "gas"),
        ("food-safety", "market-reg"),
        ("wage-arrears", "hrss"),
        ("taxi", "transport"),
        ("street-lights", "urban-mgmt"),
    ]:
        d = go(sub, Place("太和县城关镇"), routing_table, gazetteer, registry)
        assert isinstance(d, RoutingDecision) and d.unit_code == unit and d.reasons


def test_low_confidence_or_unknown_place_goes_to_a_dispatcher(routing_table, gazetteer, registry):
    d = go("property", Place(""), routing_table, gazetteer, registry)
    assert isinstance(d, NeedsDispatcher) and "属地" in d.reason
    d = go("taxi", Place(""), routing_table, gazetteer, registry, confidence=0.4)
    assert isinstance(d, NeedsDispatcher) and d.suggested_unit == "transport"
    d = go("property", Place("河东"), routing_table, gazetteer, registry)  # short alias: 0.99*0.6
    assert isinstance(d, NeedsDispatcher)
    assert isinstance(
        go("nonexistent", Place(""), routing_table, gazetteer, registry), NeedsDispatcher
    )


def test_routing_accuracy_on_the_held_out_set(
    linear, labelled_split, routing_v2, gazetteer, registry
):
    _, test = labelled_split
    scores = score_routing(linear, test, table=routing_v2, gazetteer=gazetteer, registry=registry)
    assert scores["auto_share"] >= 0.6
    assert scores["auto_accuracy"] >= 0.88
    assert scores["wrong_share"] <= 0.08


def test_v2_judges_the_territory_on_its_own(routing_v2, gazetteer, registry):
    assert routing_v2.calibrated and routing_v2.min_confidence < 1.0
    sure = go("property", Place("", text="颍东区河东街道某小区门口"), routing_v2, gazetteer,
              registry, confidence=0.9)
    assert isinstance(sure, RoutingDecision) and sure.unit_code == "yingdong"
    assert sure.subdistrict_hint == "yingdong.hedong" and sure.table_version == 2
    vague = go("property", Place("", text="赵集那边的小区"), routing_v2, gazetteer, registry)
    assert isinstance(vague, NeedsDispatcher) and "属地置信度" in vague.reason
    assert any("都有此地名" in r for r in vague.reasons)
    # A department's matter goes to the department wherever it is, the county still found.
    dept = go("taxi", Place("", text="界首市光武镇"), routing_v2, gazetteer, registry)
    assert isinstance(dept, RoutingDecision) and dept.unit_code == "transport"


def test_v2_is_as_sure_as_the_unit_not_the_subcategory(routing_v2, gazetteer, registry):
    """Garbage or city appearance: both go to the county of the place, so a doubt between
    them is no doubt about where the ticket goes; a doubt between two departments is."""
    place = Place("", text="颍东区河东街道某小区门口")
    county = Given("garbage", 0.55, (("garbage", 0.55), ("city-appearance", 0.40),
                                     ("street-lights", 0.05)))
    assert unit_confidence(county, routing_v2) == pytest.approx(0.95)
    decided = route(county, place, table=routing_v2, gazetteer=gazetteer, registry=registry)
    assert isinstance(decided, RoutingDecision) and decided.unit_code == "yingdong"
    assert decided.confidence == pytest.approx(0.95)
    assert "同一承办单位合计0.95" in decided.reasons[0]
    split = Given("construction-site", 0.55, (("construction-site", 0.55), ("noise", 0.45)))
    assert unit_confidence(split, routing_v2) == pytest.approx(0.55)
    assert isinstance(route(split, place, table=routing_v2, gazetteer=gazetteer,
                            registry=registry), NeedsDispatcher)
    # a second matter for another unit: a dispatcher decides lead and co-handling units;
    # one for the same unit does not need a person
    elsewhere = replace(county, other_matters=("street-lights",))
    assert unit_confidence(elsewhere, routing_v2) == 0.5
    assert unit_confidence(replace(county, other_matters=("city-appearance",)),
                           routing_v2) == pytest.approx(0.95)
    # no distribution (a dispatcher's label, the naive Bayes): its own confidence
    assert unit_confidence(Given("garbage", 0.7), routing_v2) == 0.7


def test_a_city_may_give_a_second_matter_to_the_first_matters_unit(routing_v2, gazetteer,
                                                                   registry):
    assert routing_v2.second_matter == "dispatcher"
    lead = replace(routing_v2, second_matter="lead")
    two = Given("garbage", 0.9, (("garbage", 0.9), ("city-appearance", 0.08)),
                other_matters=("street-lights",))
    assert unit_confidence(two, routing_v2) == 0.5
    assert unit_confidence(two, lead) == pytest.approx(0.98)
    decided = route(two, Place("", text="颍东区河东街道某小区门口"), table=lead,
                    gazetteer=gazetteer, registry=registry)
    assert isinstance(decided, RoutingDecision) and decided.unit_code == "yingdong"
    assert any("另含事项street-lights" in r for r in decided.reasons)
    with pytest.raises(RoutingTableError):
        RoutingTable.from_dict({"version": 9, "min_confidence": 0.5, "rules": {},
                                "second_matter": "whoever"})
