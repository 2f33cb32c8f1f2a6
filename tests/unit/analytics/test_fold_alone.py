"""fold_ticket's one-ticket path (`_fold_alone`, counts in local variables) against the fold
through KpiModel's fact methods (`_fold_by_calls`): the same model, to the order of its
pending counts, on random tickets made to hit every branch (facts before the submission, a
second submission, assignments told twice, coordination, transfers, replies sent back, clocks,
reopenings, ratings and callbacks without a unit or of a unit never assigned, ties in time,
periods' edges)."""

from __future__ import annotations

import random
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.analytics.domain import fold
from services.analytics.domain.facts import KIND_ORDER, Fact
from services.analytics.domain.kpis import CallbackOutcome, KpiModel, Rating
from tests.unit.analytics.simulation import SH

UNITS = ("u1", "u2", "u3", "")
USUAL = ("u1", "u1", "u1", "u2", "")
# a Sunday night in Shanghai, a month's and an ISO week's end close by
T0 = datetime(2024, 3, 31, 23, 30, tzinfo=SH)


def _attrs(rng: random.Random, kind: str) -> dict[str, Any]:
    unit = rng.choice((*USUAL, None))
    no = rng.choice((0, 1, 1, 2, None))
    pick = rng.choice
    table: dict[str, dict[str, Any]] = {
        "submitted": {"channel": pick(("hotline", "", None)), "county": pick(("c1", "")),
                      "category_hint": pick(("h1", "", None)), "text": "x"},
        "queued": {"county": pick(("c2", "", None)), "category": "k"},
        "assigned": {"unit": unit, "unit_kind": pick(("county", "", None)),
                     "county": pick(("c3", "", None)), "category": pick(("k3", "")),
                     "channel": pick(("app", "")), "assignment_no": no},
        "transferred": {"unit": unit, "from_unit": pick(UNITS), "assignment_no": no},
        "coordinated": {"lead_unit": pick(UNITS), "co_units": rng.sample(UNITS, 2),
                        "assignment_no": no},
        "replied": {"unit": unit, "assignment_no": no},
        "reply_reviewed": {"unit": unit, "accepted": pick((True, False, None))},
        "deadline_met": {"unit": unit, "clock_no": pick((0, 1, 2, None))},
        "deadline_missed": {"unit": unit, "clock_no": 1},
        "rated": {"unit": unit, "rating": pick(("satisfied", "basically_satisfied",
                                                "dissatisfied", "unrated", "", None))},
        "unrated": {"unit": unit, "rating": "unrated"},
        "callback": {"unit": unit, "reached": pick((True, False, None)),
                     "satisfaction": pick(("satisfied", "dissatisfied", "", None))},
    }
    return table.get(kind, {"unit": unit})


def random_ticket(rng: random.Random, ticket: str) -> list[Fact]:
    facts = []
    kinds = list(KIND_ORDER) + ["submitted", "assigned", "closed", "reopened", "bounced_back",
                                "replied", "reply_reviewed", "signed_for"] * 2
    for i in range(rng.randint(0, 40)):
        kind = "submitted" if i == 0 and rng.random() < 0.85 else rng.choice(kinds)
        at = T0 + timedelta(minutes=rng.choice((0, 1, 1, 29, 31, 90, 2000, 60 * 24 * 9))
                            * rng.randint(0, 3))
        facts.append(Fact(f"{ticket}-{rng.randint(0, 10**6)}-{i}", ticket, kind, at,
                          _attrs(rng, kind)))
    return facts


def internals(model: KpiModel) -> tuple[Any, ...]:
    keys = {id(t): v for t, v in model._keys.values()}
    return (model.to_dict(), list(model._pending.items()),
            [(k, list(v.items())) for k, v in model._pending_slots.items()],
            model.unmatched_facts,
            [(t, keys.get(id(s)), [(u, keys.get(id(o))) for u, o in s["units"].items()])
             for t, s in model.tickets.items()], list(model.buckets))


def by_calls(tickets: list[list[Fact]], model: KpiModel | None = None) -> KpiModel:
    model = model if model is not None else KpiModel()
    for facts in tickets:
        fold._fold_by_calls(sorted(facts, key=Fact.sort_key), model)
    return model


@pytest.mark.parametrize("seed", range(8))
def test_one_ticket_folds_as_through_the_model_methods(seed: int) -> None:
    rng = random.Random(seed)
    for n in range(300):
        facts = random_ticket(rng, f"T{n}")
        fast = fold.fold_ticket(facts)
        slow = by_calls([facts])
        assert internals(fast) == internals(slow), facts


@pytest.mark.parametrize("seed", range(4))
def test_many_tickets_into_one_model_fold_alike(seed: int) -> None:
    rng = random.Random(100 + seed)
    tickets = [random_ticket(rng, f"T{n}") for n in range(400)]
    fast = KpiModel()
    for facts in tickets:
        fold.fold_ticket(facts, fast)
    assert internals(fast) == internals(by_calls(tickets))
    assert fold.LiveKpis.of_tickets(
        {facts[0].ticket_id: {f.event_id: f for f in facts} for facts in tickets if facts}
    ).model.to_dict() == _released(by_calls([t for t in tickets if t]))


def _released(model: KpiModel) -> dict[str, Any]:
    model.release_tickets()
    fold.drop_empty_buckets(model)
    return model.to_dict()


def test_facts_of_two_tickets_or_a_ticket_held_go_through_the_model() -> None:
    rng = random.Random(7)
    a, b = random_ticket(rng, "A"), random_ticket(rng, "B")
    mixed = a + b
    assert internals(fold.fold_ticket(mixed)) == internals(by_calls([mixed]))
    held = fold.fold_ticket(a)
    again = by_calls([a])
    fold.fold_ticket(a, held)
    by_calls([a], again)
    assert internals(held) == internals(again)


@pytest.mark.parametrize("kind", ["rated", "unrated", "callback"])
@pytest.mark.parametrize("received", [False, True])
def test_an_unknown_rating_fails_either_way(kind: str, received: bool) -> None:
    f = Fact("e1", "T", kind, T0 + timedelta(1), {"unit": "u1", "rating": "great",
                                                  "reached": True, "satisfaction": "great"})
    facts = [Fact("e0", "T", "submitted", T0, {})] * received + [f]
    with pytest.raises(ValueError):
        fold.fold_ticket(facts)
    with pytest.raises(ValueError):
        by_calls([facts])


@pytest.mark.parametrize("value", [Rating.DISSATISFIED, CallbackOutcome.SATISFIED, ["satisfied"],
                                   5, 0, "great", "SATISFIED", "basically_satisfied"])
@pytest.mark.parametrize("kind", ["rated", "unrated", "callback"])
@pytest.mark.parametrize("received", [False, True])
def test_a_rating_or_outcome_of_any_type_folds_or_fails_as_the_enum_says(
        value: Any, kind: str, received: bool) -> None:
    """The one-ticket path reads a rating or a callback's outcome by a dict look-up, the enum
    only for what the look-up does not name: a member, an unhashable or unknown value, a
    falsy one give what KpiModel's methods give (the same counts, or the same error)."""
    f = Fact("e1", "T", kind, T0 + timedelta(1), {"unit": "u1", "rating": value,
                                                  "reached": True, "satisfaction": value})
    facts = [Fact("e0", "T", "submitted", T0, {}),
             Fact("e2", "T", "assigned", T0, {"unit": "u1"})] * received + [f]
    outcomes: list[tuple[str, Any]] = []
    for fold_it in (lambda: internals(fold.fold_ticket(facts)), lambda: internals(by_calls([facts])),
                    lambda: fold.LiveKpis.of_tickets({"T": {x.event_id: x for x in facts}})
                    .model.to_dict()):
        try:
            outcomes.append(("folded", fold_it()))
        except Exception as exc:  # the error's type is what is compared
            outcomes.append(("failed", type(exc)))
    assert outcomes[0] == outcomes[1]
    assert outcomes[2][0] == outcomes[0][0]
    if outcomes[0][0] == "folded":
        assert outcomes[2][1] == _released(by_calls([facts]))
    else:
        assert outcomes[2] == outcomes[0]


def _live_state(kpis: fold.LiveKpis) -> tuple[Any, ...]:
    model = kpis.model
    return (model.to_dict(), [(k, list(b.items())) for k, b in model.buckets.items()],
            list(kpis.unit_kinds.items()), kpis.latest, kpis.fact_count,
            [(t, list(f)) for t, f in kpis.facts.items()], model.tickets_released,
            model.unmatched_facts, model.tickets, model._keys)


def _held(tickets: dict[str, dict[str, Fact]]) -> fold.LiveKpis:
    """of_tickets as it was: every ticket through fold_ticket, its state handed to the model
    and let go at the end (`_fold_held`)."""
    kpis = fold.LiveKpis()
    kpis.latest = fold._fold_held(tickets, kpis)
    kpis.model.release_tickets()
    fold.drop_empty_buckets(kpis.model)
    kpis.facts = OrderedDict(tickets)
    return kpis


@pytest.mark.parametrize("case", range(10))
def test_of_tickets_without_the_tickets_state_equals_the_fold_by_tickets(case: int) -> None:
    """LiveKpis.of_tickets folds each ticket keyed by its own id without handing its state
    to the model (`_fold_released`): the same buckets (to their order and their counters'),
    units' kinds (in the same order), latest time, counts; and a set of tickets that path
    does not take (a ticket under another id, two tickets under one, facts out of ledger
    order, an empty ticket) is folded the old way."""
    rng = random.Random(500 + case)
    tickets: dict[str, dict[str, Fact]] = {}
    for n in range(150):
        for f in random_ticket(rng, f"T{n}"):
            tickets.setdefault(f.ticket_id, {})[f.event_id] = f
    if case % 5 == 1:
        first = next(iter(tickets))
        tickets["elsewhere"] = tickets.pop(first)
    elif case % 5 == 2:
        a, b = list(tickets)[:2]
        tickets[a].update(tickets.pop(b))
    elif case % 5 == 3:
        tickets["none"] = {}
    elif case % 5 == 4:  # every ticket's facts in reverse: the units' kinds in that order
        tickets = {t: dict(reversed(list(f.items()))) for t, f in tickets.items()}
    assert _live_state(fold.LiveKpis.of_tickets(tickets)) == _live_state(_held(tickets))


def test_units_kinds_follow_the_facts_order_whatever_the_sort() -> None:
    """Two assignments of one unit at one instant, with different unit kinds: the kind kept
    is the later one in the ticket's own order (as of_tickets always noted it), in order or
    not."""
    s = Fact("e0", "T", "submitted", T0, {})
    a = Fact("e1", "T", "assigned", T0 + timedelta(1), {"unit": "u1", "unit_kind": "county"})
    b = Fact("e2", "T", "assigned", T0 + timedelta(1), {"unit": "u1", "unit_kind": "zone"})
    for order in ([s, a, b], [s, b, a], [b, a, s]):
        tickets = {"T": {f.event_id: f for f in order}}
        got = fold.LiveKpis.of_tickets(tickets)
        assert _live_state(got) == _live_state(_held(tickets))
        last = [f for f in order if f.kind == "assigned"][-1]
        assert got.unit_kinds == {"u1": last.attrs["unit_kind"]}
