"""权责清单: the city's list of matter phrases and the unit responsible for each.

Real 12345 platforms route with a responsibility list kept by the city ("拖欠工资" → 人社局,
"燃气泄漏" → 燃气公司): data, not code (`data/responsibilities.json`, plus an operator's file
named by MINSHENG_DISPATCH_RESPONSIBILITIES_EXTRA, read at start). Each phrase names one
subcategory and the unit the routing table sends it to; a list that names an unknown
subcategory or unit, or a unit the table does not send that subcategory to, is refused when
dispatch starts (a typo must not silently route a matter elsewhere).

How the list weighs (`reweigh`): phrases of ONE unit found in the request's first matter are
evidence for it: the subcategories they name get their probability multiplied by the weight
read out of fold on the train part (`python -m tools.recognition train`), then renormalised.
Phrases of SEVERAL units are a conflict: the reasons say which, and the `conflict` rule read
the same way decides ("ignore": the classifier alone; "cap": the confidence is capped at
CONFLICT_CAP, below any threshold, so a dispatcher decides). Phrases that name only units other
than the one the classifier chose are a disagreement (`disagrees`), decided by the
`disagreement` rule (session 7 to 14: "cap"; since session 15, chosen with each writer's part
left out: "ignore", the reasons still name the list's unit). Matching is one precompiled
regular expression over the text: no loop over the phrases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.dispatch.domain.datafiles import load_json

LIST_FILE = "responsibilities.json"
TERRITORIAL = "territorial"  # the county of the place (属地管理), as in the routing table
CONFLICT_RULES = ("ignore", "cap")
CONFLICT_CAP = 0.5
# When the list names only units other than the one the classifier chose: "ignore" (the
# classifier decides) or "cap" (the two disagree about who is in charge: a dispatcher decides).
DISAGREEMENT_RULES = ("ignore", "cap")


class ResponsibilityListError(ValueError):
    """The responsibility list is malformed or names what does not exist."""


@dataclass(frozen=True)
class Duty:
    phrase: str
    subcategory: str
    unit: str  # a unit code, or TERRITORIAL


@dataclass(frozen=True)
class ListMatch:
    """The list's phrases found in one text, in the order they occur (each phrase once)."""

    duties: tuple[Duty, ...] = ()

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.unit for d in self.duties))

    @property
    def subcategories(self) -> frozenset[str]:
        return frozenset(d.subcategory for d in self.duties)

    @property
    def conflicting(self) -> bool:
        return len(self.units) > 1

    def disagrees(self, unit: str | None) -> bool:
        """Phrases were found and none of them names `unit` (a unit code or TERRITORIAL), the
        unit of the classifier's choice; None (its unit unknown to the list): no judgement."""
        return bool(self.duties) and unit is not None and unit not in self.units

    def disagreement(self, unit: str) -> str:
        """The reason shown when the list and the classifier name different units."""
        named = "、".join("属地" if u == TERRITORIAL else u for u in self.units)
        mine = "属地" if unit == TERRITORIAL else unit
        return f"权责清单指向{named}，分类的承办单位为{mine}，二者不一致"

    def reasons(self, names: Mapping[str, str] | None = None) -> tuple[str, ...]:
        """What the dispatcher (and the audit trail) reads."""
        if not self.duties:
            return ()
        shown = "，".join(f"“{d.phrase}”→{(names or {}).get(d.subcategory, d.subcategory)}"
                         f"（{'属地' if d.unit == TERRITORIAL else d.unit}）"
                         for d in self.duties)
        if self.conflicting:
            return (f"权责清单冲突：{shown}，分属不同单位",)
        return (f"权责清单：{shown}",)


@dataclass(frozen=True)
class ResponsibilityList:
    version: int
    duties: Mapping[str, Duty]  # phrase (lower case) -> duty

    def __post_init__(self) -> None:
        # One precompiled alternation, longest phrase first: at each position the longest
        # phrase wins ("加装电梯" of old estates, not "电梯" inside it). The phrases are grouped
        # by their first character (the ones that can match at a position all start with the
        # character there), so the engine tries one group's phrases there, not all ~450 in
        # turn: the same matches, ~0.006 ms per request instead of ~0.01.
        phrases = sorted(self.duties, key=lambda p: (-len(p), p))
        groups: dict[str, list[str]] = {}
        for p in phrases:
            groups.setdefault(p[0], []).append(re.escape(p[1:]))
        pattern = re.compile("|".join(f"{re.escape(first)}(?:{'|'.join(rests)})"
                                      for first, rests in groups.items())) if phrases else None
        object.__setattr__(self, "_pattern", pattern)
        object.__setattr__(self, "_units", {d.subcategory: d.unit for d in self.duties.values()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *extra: Mapping[str, Any]) -> ResponsibilityList:
        duties: dict[str, Duty] = {}
        for n, doc in enumerate((data, *extra)):
            where = "responsibilities.json" if n == 0 else f"extra responsibility file {n}"
            matters = doc.get("matters") if isinstance(doc, Mapping) else None
            if not isinstance(matters, list):
                raise ResponsibilityListError(f"{where}: expected {{\"matters\": [...]}}")
            for i, m in enumerate(matters):
                if not isinstance(m, Mapping) or not isinstance(m.get("subcategory"), str) \
                        or not isinstance(m.get("unit"), str) \
                        or not isinstance(m.get("phrases"), list) or not m["phrases"]:
                    raise ResponsibilityListError(
                        f"{where}: matter #{i} needs subcategory, unit and a list of phrases")
                for phrase in m["phrases"]:
                    if not isinstance(phrase, str) or len(phrase.strip()) < 2:
                        raise ResponsibilityListError(
                            f"{where}: {m['subcategory']}: phrase {phrase!r} is not a phrase "
                            f"of two characters or more")
                    key = phrase.strip().lower()
                    duty = Duty(key, m["subcategory"], m["unit"])
                    known = duties.get(key)
                    if known is not None and known.subcategory != duty.subcategory:
                        raise ResponsibilityListError(
                            f"{where}: “{phrase}” is listed for {known.subcategory} and "
                            f"{duty.subcategory}: a phrase names one matter")
                    duties[key] = duty
        return cls(version=int(data.get("version", 1)), duties=duties)

    def unit_of(self, subcategory: str) -> str | None:
        """The unit the list gives a subcategory (every phrase of it names the same one, as
        `check_against` ensures), None when the list has no phrase for it."""
        units: dict[str, str] = self._units  # type: ignore[attr-defined]
        return units.get(subcategory)

    def check_against(self, rules: Mapping[str, Any], known_units: Iterable[str]) -> None:
        """Refuse phrases for an unknown subcategory or unit, or for a unit the routing table
        does not send the subcategory to (`rules`: subcategory -> routing.Responsibility)."""
        units = set(known_units)
        for duty in self.duties.values():
            rule = rules.get(duty.subcategory)
            if rule is None:
                raise ResponsibilityListError(
                    f"权责清单: “{duty.phrase}” names unknown subcategory {duty.subcategory!r}")
            if duty.unit != TERRITORIAL and duty.unit not in units:
                raise ResponsibilityListError(
                    f"权责清单: “{duty.phrase}” names unknown or retired unit {duty.unit!r}")
            expected = TERRITORIAL if rule.territorial else rule.unit
            if duty.unit != expected:
                raise ResponsibilityListError(
                    f"权责清单: “{duty.phrase}” → {duty.unit}, but the routing table sends "
                    f"{duty.subcategory} to {expected}")

    def match(self, text: str) -> ListMatch:
        """The phrases in `text`, longest first at each position, never overlapping."""
        pattern: re.Pattern[str] | None = self._pattern  # type: ignore[attr-defined]
        if pattern is None:
            return ListMatch()
        found: dict[str, Duty] = {}
        for m in pattern.finditer(text.lower()):
            found.setdefault(m.group(), self.duties[m.group()])
        return ListMatch(tuple(found.values()))


def reweigh(distribution: Sequence[tuple[str, float]], match: ListMatch,
            weight: float) -> list[tuple[str, float]]:
    """The classifier's subcategory probabilities with the list's evidence, best first: one
    unit's phrases make each subcategory they name `weight` times likelier (then the
    probabilities sum to one again). Several units' phrases change nothing here; the
    `conflict` rule ("cap") is applied to the confidence by the caller."""
    if not match.duties or match.conflicting or weight == 1.0:
        return list(distribution)
    named = match.subcategories
    weighed = [(s, p * weight if s in named else p) for s, p in distribution]
    z = sum(p for _, p in weighed) or 1.0
    return sorted(((s, p / z) for s, p in weighed), key=lambda p: -p[1])


def load_responsibilities(extra: Iterable[Mapping[str, Any]] = ()) -> ResponsibilityList:
    """The city's list of `data/responsibilities.json`, plus operators' files (`extra`)."""
    return ResponsibilityList.from_dict(load_json(LIST_FILE), *extra)
