"""Territory and routing, and routing accuracy on the held-out labelled requests.

Measured on 2026-11-27 with routing v1 (threshold 0.90): 61.5% routed automatically, 81.4% of
those to the right unit, 11.5% of all requests to a wrong unit; the rest go to a dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from services.dispatch.domain.labelled import score_routing
from services.dispatch.domain.places import Place
from services.dispatch.domain.routing import (
    NeedsDispatcher,
    RoutingDecision,
    RoutingTableError,
    route,
)


@dataclass(frozen=True)
class Given:
    subcategory: str
    confidence: float = 0.99


@pytest.mark.parametrize(
    ("place", "county", "subdistrict"),
    [
        (Place("颍州区清河街道某小区"), "yingzhou", "yingzhou.qinghe"),
        (Place("清河路88号"), "yingzhou", "yingzhou.qinghe"),
        (Place("临泉县某村"), "linquan", None),
        (Place("城南新区三清路"), "chengnan", "chengnan.sanqing"),
        (Place("", lon=115.26, lat=33.06), "linquan", None),
        (Place("", lon=115.82, lat=32.83), "chengnan", None),  # zone box inside the district box
        (Place("颍上县", lon=116.26, lat=32.63), "yingshang", None),
    ],
)
def test_territory_from_address_or_coordinates(gazetteer, place, county, subdistrict):
    found = gazetteer.locate(place)
    assert (found.county, found.subdistrict) == (county, subdistrict)
    assert found.confidence > 0.5 and found.reasons


def test_conflicting_address_and_coordinates_lower_the_confidence(gazetteer):
    assert gazetteer.locate(Place("颍上县慎城镇", lon=115.26, lat=33.06)).confidence < 0.5
    assert gazetteer.locate(Place("火星")).county is None


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
    trained, labelled_split, routing_table, gazetteer, registry
):
    _, test = labelled_split
    scores = score_routing(
        trained, test, table=routing_table, gazetteer=gazetteer, registry=registry
    )
    assert scores["auto_share"] >= 0.55
    assert scores["auto_accuracy"] >= 0.78
    assert scores["wrong_share"] <= 0.14
