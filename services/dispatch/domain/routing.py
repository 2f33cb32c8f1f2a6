"""Routing: 谁主管、谁负责 (responsibility) and 属地管理 (territory).

A category's matter is either departmental (city-wide: goes to the department or utility
in charge) or territorial (goes to the county sub-platform or zone where it happens, which
dispatches again inside its area). The table is versioned data (`data/routing_v<N>.json`);
a decision names the table version so an auditor can tell why a ticket went where it went.
Below the table's confidence threshold the answer is `NeedsDispatcher`, never a guess.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from services.dispatch.domain.datafiles import load_json
from services.dispatch.domain.linear import MULTI_MATTER_CAP
from services.dispatch.domain.places import Gazetteer, Place, Territory
from services.dispatch.domain.responsibilities import CONFLICT_CAP
from services.dispatch.domain.units import UnitRegistry


class RoutingTableError(ValueError):
    """The routing table names something that does not exist."""


class Classified(Protocol):
    """What routing needs from a classification (the classifier's or a dispatcher's)."""

    @property
    def subcategory(self) -> str: ...

    @property
    def confidence(self) -> float: ...


@dataclass(frozen=True)
class Responsibility:
    territorial: bool
    unit: str | None = None  # the department or utility when not territorial


@dataclass(frozen=True)
class RoutingTable:
    version: int
    min_confidence: float  # of the classification (v1: of classification x territory)
    rules: Mapping[str, Responsibility]
    # v2+: the territory is judged on its own (a sure category should not be sent to a
    # dispatcher because the place is "only" 0.85 sure, nor a sure place rescue a doubtful
    # category). None: v1's product rule.
    min_territory_confidence: float | None = None
    # v2+: "calibrated": min_confidence is the classifier's own calibrated threshold (the
    # lowest confidence at which the held-out requests were routed right >= 95 % of the time),
    # filled in by `calibrated_to` when the service loads its model.
    calibrated: bool = False
    # A request with a second matter ("另外…") for another unit: "dispatcher" (a person chooses
    # lead and co-handling units) or "lead" (the first matter's unit gets it, told of the
    # second, as 首接首办 asks). The city's choice; docs/recognition.md measures both.
    second_matter: str = "dispatcher"

    @functools.cached_property
    def same_unit(self) -> Mapping[str, frozenset[str]]:
        """subcategory -> every subcategory whose rule is equal to its rule (sent the same
        way): `unit_confidence`'s sum, without comparing the rules one by one per ticket."""
        by_rule: dict[Responsibility, set[str]] = {}
        for sub, rule in self.rules.items():
            by_rule.setdefault(rule, set()).add(sub)
        return {sub: frozenset(by_rule[rule]) for sub, rule in self.rules.items()}

    def calibrated_to(self, threshold: float) -> RoutingTable:
        return replace(self, min_confidence=threshold) if self.calibrated else self

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoutingTable:
        rules = {}
        for sub, rule in data["rules"].items():
            territorial = rule["responsibility"] == "territorial"
            rules[sub] = Responsibility(
                territorial=territorial, unit=None if territorial else rule["unit"]
            )
        territory = data.get("min_territory_confidence")
        calibrated = data["min_confidence"] == "calibrated"
        return cls(
            version=int(data["version"]),
            min_confidence=1.0 if calibrated else float(data["min_confidence"]),
            rules=rules, min_territory_confidence=None if territory is None else float(territory),
            calibrated=calibrated,
            second_matter=_second_matter(data.get("second_matter", "dispatcher")),
        )

    def check_against(self, registry: UnitRegistry, subcategories: set[str]) -> None:
        """Refuse a table whose departments are unknown or that leaves a subcategory unrouted."""
        for sub, rule in self.rules.items():
            if rule.unit is not None and not registry.is_active(rule.unit):
                raise RoutingTableError(
                    f"routing v{self.version}: {sub} → unknown or retired unit {rule.unit!r}"
                )
        missing = subcategories - set(self.rules)
        if missing:
            raise RoutingTableError(f"routing v{self.version}: no rule for {sorted(missing)}")


@dataclass(frozen=True)
class RoutingDecision:
    unit_code: str
    confidence: float
    reasons: tuple[str, ...]
    table_version: int
    subdistrict_hint: str | None = None  # for the county sub-platform's own second dispatch


@dataclass(frozen=True)
class NeedsDispatcher:
    reason: str
    confidence: float = 0.0
    suggested_unit: str | None = None  # the best guess, shown to the dispatcher, never applied
    reasons: tuple[str, ...] = field(default=())


def _second_matter(value: Any) -> str:
    if value not in ("dispatcher", "lead"):
        raise RoutingTableError(f"second_matter must be 'dispatcher' or 'lead', not {value!r}")
    return str(value)


def unit_confidence(classification: Classified, table: RoutingTable) -> float:
    """How sure the classification is of the UNIT the ticket goes to, which is what routing
    decides: the probabilities of every subcategory the table sends to the same unit, summed
    (garbage and city appearance both go to the county of the place; a doubt between them is
    no doubt about where the ticket goes). A later matter ("另外…") that goes to another unit
    caps it at MULTI_MATTER_CAP: a dispatcher decides lead and co-handling units; so do
    conflicting phrases of the city's responsibility list when its rule is "cap", and phrases
    that name only other units when its disagreement rule is "cap". Without a
    distribution (naive Bayes, a dispatcher's label) it is the classification's confidence."""
    distribution = getattr(classification, "distribution", ())
    same = table.same_unit.get(classification.subcategory)
    if not distribution or same is None:
        return classification.confidence
    confidence = min(1.0, sum(p for sub, p in distribution if sub in same))
    if table.second_matter == "dispatcher" and _elsewhere(classification, table):
        confidence = min(confidence, MULTI_MATTER_CAP)
    # 权责清单: phrases of several units ("cap"), or naming only other units than the model's
    if getattr(classification, "duty_capped", False):
        confidence = min(confidence, CONFLICT_CAP)
    return confidence


def _elsewhere(classification: Classified, table: RoutingTable) -> list[str]:
    """The later matters that the table sends to another unit than the first."""
    top = table.rules.get(classification.subcategory)
    return [o for o in getattr(classification, "other_matters", ())
            if table.rules.get(o) != top]


def load_routing_table(version: int = 1) -> RoutingTable:
    return RoutingTable.from_dict(load_json(f"routing_v{version}.json"))


def route(
    classification: Classified,
    place: Place | Territory,
    *,
    table: RoutingTable,
    gazetteer: Gazetteer,
    registry: UnitRegistry,
) -> RoutingDecision | NeedsDispatcher:
    """`place` is where the request is (located here) or the territory already found."""
    rule = table.rules.get(classification.subcategory)
    if rule is None:
        return NeedsDispatcher(f"路由表v{table.version}中没有“{classification.subcategory}”的规则")
    sure = unit_confidence(classification, table) if table.calibrated else (
        classification.confidence)
    reasons = [f"分类{classification.subcategory}（置信度{classification.confidence:.2f}"
               + (f"，同一承办单位合计{sure:.2f}" if sure > classification.confidence + 0.005
                  else "") + "）"]
    reasons.extend(getattr(classification, "duty_reasons", ()))
    if table.second_matter == "lead":
        reasons.extend(f"另含事项{o}：由承办单位首接首办，转交或申请协办"
                       for o in _elsewhere(classification, table))
    judged_apart = table.min_territory_confidence is not None
    if judged_apart and sure < table.min_confidence:
        if rule.territorial:  # the dispatcher still sees where it is
            reasons.extend(_where(place, gazetteer).reasons)
        unit = rule.unit if not rule.territorial else _where(place, gazetteer).county
        return NeedsDispatcher(
            f"分类置信度{sure:.2f}低于阈值{table.min_confidence:.2f}，转人工派单",
            confidence=sure, suggested_unit=unit, reasons=tuple(reasons))
    if not rule.territorial:
        assert rule.unit is not None
        if not registry.is_active(rule.unit):
            return NeedsDispatcher(f"主管单位{rule.unit}不在册或已撤销", reasons=tuple(reasons))
        reasons.append(f"谁主管谁负责：{classification.subcategory}→{rule.unit}")
        return _decide(rule.unit, sure, reasons, table, None)
    territory = _where(place, gazetteer)
    reasons.extend(territory.reasons)
    if territory.county is None or not registry.is_active(territory.county):
        return NeedsDispatcher("属地事项但无法确定属地（县区/开发区），转人工派单",
                               confidence=sure, reasons=tuple(reasons))
    reasons.append(f"属地管理：{territory.county}分平台二次派单")
    if table.min_territory_confidence is not None:
        if territory.confidence < table.min_territory_confidence:
            return NeedsDispatcher(
                f"属地置信度{territory.confidence:.2f}低于阈值"
                f"{table.min_territory_confidence:.2f}，转人工派单",
                confidence=territory.confidence, suggested_unit=territory.county,
                reasons=tuple(reasons))
        confidence = sure
    else:
        confidence = classification.confidence * territory.confidence
    return _decide(territory.county, confidence, reasons, table, territory.subdistrict)


def _where(place: Place | Territory, gazetteer: Gazetteer) -> Territory:
    return place if isinstance(place, Territory) else gazetteer.locate(place)


def _decide(
    unit: str, confidence: float, reasons: list[str], table: RoutingTable, subdistrict: str | None
) -> RoutingDecision | NeedsDispatcher:
    if confidence < table.min_confidence:
        return NeedsDispatcher(
            f"置信度{confidence:.2f}低于阈值{table.min_confidence:.2f}，转人工派单",
            confidence=confidence,
            suggested_unit=unit,
            reasons=tuple(reasons),
        )
    return RoutingDecision(
        unit_code=unit,
        confidence=confidence,
        reasons=tuple(reasons),
        table_version=table.version,
        subdistrict_hint=subdistrict,
    )
