from collections import Counter
from datetime import date, timedelta

from tools.simulator import SimPlan, build_plan
from tools.simulator.model import BOUNCE_BACK, DECIDE, REPLY, SIGN_FOR, SUBMIT


def _episode(plan: SimPlan, kind: str):
    return next(e for e in plan.episodes if e.kind == kind)


def _actions(plan: SimPlan, ticket: str):
    return [a for a in plan.actions if a.ticket == ticket]


def test_property_fee_run_is_planted_with_its_answer(month: SimPlan) -> None:
    episode = _episode(month, "hot_topic")
    answer = episode.answer
    assert answer["count"] == len(episode.tickets) == 40
    first, last = date.fromisoformat(answer["week_start"]), date.fromisoformat(answer["week_end"])
    assert last - first == timedelta(days=6)
    for ticket in episode.tickets:
        truth = month.truths[ticket]
        assert (truth.category, truth.subcategory, truth.estate) == ("物业管理", "物业收费", answer["estate"])
        assert truth.territory == answer["territory"] and first <= truth.submitted_at.date() <= last
        request = _actions(month, ticket)[0].payload["request"]
        assert answer["estate"] in " ".join(str(v) for v in request.values())
    # The run is a real spike: no estate gets more than a handful of fee complaints in any week.
    background = Counter((t.territory, t.estate, t.submitted_at.isocalendar()[:2]) for t in month.truths.values()
                         if t.episode is None and t.subcategory == "物业收费")
    assert max(background.values()) <= 5


def test_jurisdiction_dispute_bounces_twice_then_the_platform_coordinates(month: SimPlan) -> None:
    episode = _episode(month, "jurisdiction_dispute")
    (ticket,) = episode.tickets
    actions = _actions(month, ticket)
    kinds = [a.kind for a in actions]
    assert kinds[:6] == [SUBMIT, BOUNCE_BACK, DECIDE, BOUNCE_BACK, DECIDE, SIGN_FOR]
    assert [a.payload["unit"] for a in actions if a.kind == BOUNCE_BACK] == episode.answer["disputing_units"]
    decision = actions[4].payload
    assert decision["decision"] == "coordinate" and decision["lead"] == episode.answer["lead"]
    assert month.unit_names[decision["lead"]] == "清河街道"
    assert actions[5].payload["unit"] == decision["lead"] and REPLY in kinds
    assert month.truths[ticket].handling_unit == decision["lead"]
    assert "没有人清扫" in actions[0].payload["request"]["text"]


def test_duplicate_burst_is_one_case(month: SimPlan) -> None:
    episode = _episode(month, "duplicates")
    truths = [month.truths[t] for t in episode.tickets]
    times = [t.submitted_at for t in truths]
    assert max(times) - min(times) <= timedelta(hours=2)
    assert len({t.citizen for t in truths}) == len(truths) == 12
    assert {t.estate for t in truths} == {episode.answer["estate"]}
    replied = {a.ticket for a in month.actions if a.kind == REPLY and a.ticket in episode.tickets}
    assert replied == {episode.answer["case_of"]}


def test_episodes_can_be_left_out() -> None:
    plan = build_plan(seed=7, days=3, per_day=50, episodes=False)
    assert plan.episodes == [] and all(t.episode is None for t in plan.truths.values())


def test_episodes_fit_a_short_plan() -> None:
    plan = build_plan(seed=7, days=2, per_day=10)
    start = plan.start.date()
    for truth in plan.truths.values():
        assert start <= truth.submitted_at.date() < start + timedelta(days=2)
