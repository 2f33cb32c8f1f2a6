from collections import Counter, defaultdict

from tools.simulator import SimPlan
from tools.simulator.behaviour import UNIT_PROFILES
from tools.simulator.model import CALLBACK, DISSATISFIED, RATE, SATISFIED


def _by_profile(plan: SimPlan) -> dict[str, list]:
    groups = defaultdict(list)
    for truth in plan.truths.values():
        if truth.episode is None:
            groups[UNIT_PROFILES.get(truth.handling_unit, "steady")].append(truth)
    return groups


def test_often_late_units_are_late_and_quick_units_are_not(month: SimPlan) -> None:
    groups = _by_profile(month)
    late = {name: sum(t.late for t in ts) / len(ts) for name, ts in groups.items()}
    assert late["often_late"] > 0.25 > 0.05 > late["quick"]


def test_bouncy_units_bounce_back_most(month: SimPlan) -> None:
    groups = _by_profile(month)
    bounce = {name: sum(t.bounced for t in ts) / len(ts) for name, ts in groups.items()}
    assert bounce["bouncy"] == max(bounce.values()) and bounce["bouncy"] > 3 * bounce["quick"]


def test_ratings_follow_unit_quality_and_some_never_rate(month: SimPlan) -> None:
    groups = _by_profile(month)
    satisfied = {name: sum(t.rating == SATISFIED for t in ts) / max(1, sum(t.rating is not None for t in ts))
                 for name, ts in groups.items()}
    assert satisfied["quick"] > satisfied["steady"] > satisfied["often_late"]
    rated = sum(t.rating is not None for t in month.truths.values()) / len(month.truths)
    assert 0.5 < rated < 0.8
    ratings = Counter(a.payload["rating"] for a in month.actions if a.kind == RATE)
    assert set(ratings) == {"satisfied", "basically_satisfied", "dissatisfied"}


def test_every_dissatisfied_rating_with_a_phone_gets_a_callback(month: SimPlan) -> None:
    called = {a.ticket for a in month.actions if a.kind == CALLBACK}
    for truth in month.truths.values():
        if truth.rating == DISSATISFIED and truth.citizen_kind != "anonymous" and truth.episode is None:
            assert truth.ticket in called, truth.ticket
    assert len(called) > 0.15 * len(month.truths)


def test_callbacks_and_unit_actions_happen_in_office_hours(month: SimPlan) -> None:
    for action in month.actions:
        if action.kind == CALLBACK or (action.actor.startswith("unit:") and month.truths[action.ticket].urgency != "urgent"):
            assert 8 <= action.at.hour <= 17, action
