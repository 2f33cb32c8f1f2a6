"""权责清单: loading and checking the city's list, matching phrases, how it weighs, and the
reasons a dispatcher reads (docs/routing-policy.md, docs/recognition.md)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from services.dispatch.bootstrap import extra_responsibilities
from services.dispatch.domain.linear import LinearClassifier
from services.dispatch.domain.places import Place
from services.dispatch.domain.responsibilities import (
    CONFLICT_CAP,
    ListMatch,
    ResponsibilityList,
    ResponsibilityListError,
    load_responsibilities,
    reweigh,
)
from services.dispatch.domain.routing import (
    NeedsDispatcher,
    load_routing_table,
    route,
    unit_confidence,
)
from services.dispatch.settings import DispatchSettings


def _list(*matters: dict) -> ResponsibilityList:
    return ResponsibilityList.from_dict({"version": 1, "matters": list(matters)})


def _active(registry) -> list[str]:
    return [u.code for u in registry.active()]


def test_the_shipped_list_agrees_with_the_routing_table_and_the_registry(registry):
    from services.dispatch.domain.routing import load_routing_table

    duties = load_responsibilities()
    assert len(duties.duties) > 300
    duties.check_against(load_routing_table(2).rules, _active(registry))
    duties.check_against(load_routing_table(1).rules, _active(registry))


@pytest.mark.parametrize("doc, why", [
    ({"version": 1}, "expected"),
    ({"matters": [{"subcategory": "wage-arrears", "unit": "hrss"}]}, "needs subcategory"),
    ({"matters": [{"subcategory": "wage-arrears", "unit": "hrss", "phrases": ["欠"]}]},
     "two characters"),
    ({"matters": [{"subcategory": "wage-arrears", "unit": "hrss", "phrases": ["拖欠工资"]},
                  {"subcategory": "labour-contract", "unit": "hrss", "phrases": ["拖欠工资"]}]},
     "a phrase names one matter"),
])
def test_a_malformed_list_is_refused_with_the_reason(doc, why):
    with pytest.raises(ResponsibilityListError, match=why):
        ResponsibilityList.from_dict(doc)


def test_an_unknown_unit_or_subcategory_or_a_unit_the_table_disagrees_with_is_refused(
        registry, routing_table):
    units = _active(registry)
    with pytest.raises(ResponsibilityListError, match="unknown or retired unit"):
        _list({"subcategory": "wage-arrears", "unit": "no-such-bureau",
               "phrases": ["拖欠工资"]}).check_against(routing_table.rules, units)
    with pytest.raises(ResponsibilityListError, match="unknown subcategory"):
        _list({"subcategory": "no-such-matter", "unit": "hrss",
               "phrases": ["拖欠工资"]}).check_against(routing_table.rules, units)
    with pytest.raises(ResponsibilityListError, match="routing table sends"):
        _list({"subcategory": "wage-arrears", "unit": "gas",
               "phrases": ["拖欠工资"]}).check_against(routing_table.rules, units)
    with pytest.raises(ResponsibilityListError, match="routing table sends"):
        _list({"subcategory": "property", "unit": "housing",
               "phrases": ["物业费"]}).check_against(routing_table.rules, units)
    _list({"subcategory": "property", "unit": "territorial",
           "phrases": ["物业费"]}).check_against(routing_table.rules, units)


def test_a_bad_extra_file_stops_the_start(tmp_path):
    missing = DispatchSettings(dispatch_responsibilities_extra=str(tmp_path / "nope.json"))
    with pytest.raises(FileNotFoundError):
        extra_responsibilities(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", "utf-8")
    with pytest.raises(json.JSONDecodeError):
        extra_responsibilities(DispatchSettings(dispatch_responsibilities_extra=str(broken)))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"matters": [{"subcategory": "gas-supply", "unit": "gas",
                                              "phrases": ["燃气表"]}]}), "utf-8")
    settings = DispatchSettings(dispatch_responsibilities_extra=str(wrong))
    with pytest.raises(ResponsibilityListError, match="a phrase names one matter") as err:
        ResponsibilityList.from_dict(
            {"matters": [{"subcategory": "water-supply", "unit": "water-supply",
                          "phrases": ["燃气表"]}]}, *extra_responsibilities(settings))
    assert "extra responsibility file 1" in str(err.value)


def test_an_extra_file_adds_phrases():
    extra = {"matters": [{"subcategory": "gas-supply", "unit": "gas", "phrases": ["罐装气"]}]}
    duties = load_responsibilities([extra])
    assert duties.match("楼下的罐装气味道很大").subcategories == {"gas-supply"}


def test_matching_reads_the_longest_phrase_once_and_in_order():
    duties = _list({"subcategory": "old-estate", "unit": "territorial", "phrases": ["加装电梯"]},
                   {"subcategory": "special-equipment", "unit": "market-reg",
                    "phrases": ["电梯"]},
                   {"subcategory": "wage-arrears", "unit": "hrss", "phrases": ["拖欠工资", "LED屏"]})
    assert duties.match("老楼加装电梯的事").subcategories == {"old-estate"}
    found = duties.match("电梯坏了，拖欠工资，又是电梯，led屏")
    assert [d.phrase for d in found.duties] == ["电梯", "拖欠工资", "led屏"]
    assert found.conflicting and found.units == ("market-reg", "hrss")
    assert duties.match("没有相关的词").duties == ()


def test_one_units_phrases_raise_its_subcategories_and_a_conflict_changes_nothing():
    duties = _list({"subcategory": "wage-arrears", "unit": "hrss", "phrases": ["拖欠工资"]},
                   {"subcategory": "gas-supply", "unit": "gas", "phrases": ["燃气泄漏"]})
    dist = [("labour-contract", 0.6), ("wage-arrears", 0.3), ("gas-supply", 0.1)]
    raised = reweigh(dist, duties.match("老板拖欠工资"), 8.0)
    assert raised[0][0] == "wage-arrears"
    assert raised[0][1] == pytest.approx(2.4 / 3.1)
    assert sum(p for _, p in raised) == pytest.approx(1.0)
    assert reweigh(dist, duties.match("拖欠工资，燃气泄漏"), 8.0) == dist
    assert reweigh(dist, ListMatch(), 8.0) == dist
    assert reweigh(dist, duties.match("老板拖欠工资"), 1.0) == dist


def test_the_reasons_name_the_phrases_and_say_when_they_conflict(taxonomy):
    duties = _list({"subcategory": "wage-arrears", "unit": "hrss", "phrases": ["拖欠工资"]},
                   {"subcategory": "property", "unit": "territorial", "phrases": ["物业费"]})
    names = taxonomy.subcategory_names
    assert duties.match("拖欠工资").reasons(names) == ("权责清单：“拖欠工资”→拖欠工资（hrss）",)
    (conflict,) = duties.match("物业费和拖欠工资").reasons(names)
    assert conflict.startswith("权责清单冲突：") and "物业管理（属地）" in conflict
    assert "分属不同单位" in conflict


def test_the_service_shows_the_list_in_the_routing_reasons(linear, taxonomy, registry,
                                                          gazetteer, routing_v2):
    listed = LinearClassifier(taxonomy, linear.model, blank_places=linear.blank_places,
                              duties=load_responsibilities())
    c = listed.classify("公司老板拖欠工资三个月了，一直不给")
    assert c.duty_reasons and c.duty_reasons[0].startswith("权责清单：“拖欠工资”")
    decision = route(c, Place(""), table=routing_v2, gazetteer=gazetteer, registry=registry)
    assert any(r.startswith("权责清单") for r in decision.reasons)
    assert not linear.classify("公司老板拖欠工资三个月了，一直不给").duty_reasons


def test_conflicting_phrases_under_the_cap_rule_go_to_a_dispatcher(linear, taxonomy, registry,
                                                                  gazetteer, routing_v2):
    meta = {**linear.model.meta, "responsibility_conflict": "cap"}
    capping = LinearClassifier(taxonomy, replace(linear.model, meta=meta),
                               blank_places=linear.blank_places, duties=load_responsibilities())
    c = capping.classify("物业公司收了物业费还拖欠工资不发")
    assert c.duty_capped and c.confidence <= CONFLICT_CAP
    assert unit_confidence(c, routing_v2) <= CONFLICT_CAP
    decision = route(c, Place(""), table=routing_v2, gazetteer=gazetteer, registry=registry)
    assert isinstance(decision, NeedsDispatcher)
    assert any(r.startswith("权责清单冲突") for r in decision.reasons)


def test_an_unknown_conflict_rule_in_the_model_is_refused(linear, taxonomy):
    from services.dispatch.domain.classifier import ClassificationError

    meta = {**linear.model.meta, "responsibility_conflict": "guess"}
    with pytest.raises(ClassificationError, match="conflict rule"):
        LinearClassifier(taxonomy, replace(linear.model, meta=meta))


def test_the_list_naming_only_another_unit_sends_the_request_to_a_dispatcher(
        linear, taxonomy, registry, gazetteer):
    """The disagreement rule "cap" (the model file's setting from session 7 to 14; a city may set
    it): the model says 交通运输局 (a road), the list's 井盖 says 水务局, so a dispatcher decides."""
    meta = {**linear.model.meta, "responsibility_disagreement": "cap"}
    listed = LinearClassifier(taxonomy, replace(linear.model, meta=meta),
                              blank_places=linear.blank_places, duties=load_responsibilities())
    assert listed.duty_disagreement == "cap"
    c = listed.classify("马路中间的井盖不见了，车开过去很危险")
    assert c.subcategory == "road-damage" and c.duty_capped
    assert c.duty_reasons[-1] == "权责清单指向water-affairs，分类的承办单位为transport，二者不一致"
    table = load_routing_table(2).calibrated_to(listed.threshold)
    decision = route(c, Place(""), table=table, gazetteer=gazetteer, registry=registry)
    assert isinstance(decision, NeedsDispatcher) and decision.confidence <= CONFLICT_CAP
    agreeing = listed.classify("公司老板拖欠工资三个月了，一直不给")
    assert not agreeing.duty_capped  # the list names the model's own unit: no cap


def test_the_shipped_disagreement_rule_shows_the_list_and_leaves_the_confidence(
        linear, taxonomy):
    """The model file ships "ignore" since session 15 (chosen leaving each writer's part out,
    docs/recognition.md "Session 15"): the list naming another unit is shown in the reasons and
    caps nothing; the classifier's confidence decides."""
    listed = LinearClassifier(taxonomy, linear.model, blank_places=linear.blank_places,
                              duties=load_responsibilities())
    assert listed.duty_disagreement == "ignore"
    c = listed.classify("马路中间的井盖不见了，车开过去很危险")
    assert c.subcategory == "road-damage" and not c.duty_capped
    assert c.duty_reasons == ("权责清单：“井盖”→排水与内涝（water-affairs）",)
    assert c.confidence > CONFLICT_CAP  # not capped: what the classifier says


def test_an_unknown_disagreement_rule_in_the_model_is_refused(linear, taxonomy):
    from services.dispatch.domain.classifier import ClassificationError

    meta = {**linear.model.meta, "responsibility_disagreement": "guess"}
    with pytest.raises(ClassificationError, match="disagreement rule"):
        LinearClassifier(taxonomy, replace(linear.model, meta=meta))
