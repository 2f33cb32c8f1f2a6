"""From stored facts to the KPI model, one ticket at a time, order-insensitively.

The KPI state is a sum over tickets: every counter in `KpiModel` is the sum of what each
ticket contributes. So when a fact arrives `LiveKpis` takes the ticket's old contribution out
of the total, folds the ticket again from all its facts (sorted by time, lifecycle order, event
id) and adds the new contribution. It keeps the facts of the tickets refolded last only; a
ticket's earlier facts not in memory are read back from the facts table (exactly the rows it
folded before), so memory does not grow with the history. Consequences:

* a redelivered fact changes nothing (facts are a set, keyed by event id);
* a fact that arrives late or out of order lands where it belongs (e.g. TicketAssigned telling
  the county after TicketSubmitted was counted under '未知');
* the live state and a rebuild from the audit ledger are equal whenever they hold the same
  facts, whatever the order in which each saw them.

How an upstream event becomes a model fact (docs/kpis.md, "From events to facts"):
* dimensions of a ticket: channel from TicketSubmitted; county and category from the first
  TicketAssigned (else the county dispatch found when it queued the ticket for a dispatcher,
  TicketQueuedForDispatcher; else the submission's place county / category hint, else
  未知 / 未分类);
* sign-for time and handling time: from the unit's latest assignment before the fact;
* a reply is on time when sla settled its clock as DeadlineMet (clock n = 1 + reopens before);
  a reply the platform's review sent back is not a reply to the citizen and is not counted;
* a fact naming no unit is attributed to the unit holding the ticket at that time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from operator import is_
from typing import Any

from services.analytics.domain.facts import Fact
from services.analytics.domain.hot_topics import TicketText, place_in
from services.analytics.domain.kpis import (
    CITY,
    COUNTERS,
    DROP,
    HISTOGRAMS,
    VERDICT_POINTS,
    CallbackOutcome,
    KpiModel,
    Rating,
    _dimension_keys,
    _new_outcome,
    _unit_keys_of,
    bucket_key,
    closing_order,
    pour,
    set_verdict,
)
from services.analytics.domain.periods import (
    _periods_of_day,
    city_tz,
    first_kept,
    local_date,
    minutes,
    period_bounds,
)

UNKNOWN_COUNTY = "未知"
UNKNOWN_CATEGORY = "未分类"
UNKNOWN_CHANNEL = "未知"
ASSIGNING = ("assigned", "transferred", "coordinated")


def ticket_dims(ordered: list[Fact]) -> dict[str, str]:
    submitted = next((f for f in ordered if f.kind == "submitted"), None)
    first = next((f for f in ordered if f.kind == "assigned"), None)
    queued = next((f for f in ordered if f.kind == "queued" and f.get("county")), None)
    channel, county, category = _dims_of(submitted, first, queued)
    return {"channel": channel, "county": county, "category": category}


def _dims_of(submitted: Fact | None, first: Fact | None, queued: Fact | None
             ) -> tuple[str, str, str]:
    """(channel, county, category) of a ticket from its submission, its first assignment and
    its first queueing that named a county (`ticket_dims`)."""
    # the facts' attributes read directly (a missing or None attribute is falsy either way,
    # as `Fact.get`'s "" is: the first true value wins)
    s = submitted.attrs if submitted is not None else _NO_ATTRS
    a = first.attrs if first is not None else _NO_ATTRS
    q = queued.attrs if queued is not None else _NO_ATTRS
    channel = s.get("channel") or a.get("channel")
    county = a.get("county") or q.get("county") or s.get("county")
    category = a.get("category") or s.get("category_hint")
    return (channel or UNKNOWN_CHANNEL, county or UNKNOWN_COUNTY,
            category or UNKNOWN_CATEGORY)


_NO_ATTRS: dict[str, Any] = {}


def units_assigned(fact: Fact) -> list[tuple[str, int]]:
    """(unit, assignment number) pairs an assigning fact gives the ticket to."""
    no = int(fact.get("assignment_no", 0) or 0)
    if fact.kind == "coordinated":
        units = [fact.get("lead_unit"), *fact.get("co_units", [])]
        return [(u, no) for u in units if u]
    unit = fact.get("unit")
    return [(unit, no)] if unit else []


def fold_ticket(facts: Iterable[Fact], model: KpiModel | None = None) -> KpiModel:
    """Fold one ticket's facts into `model` (a fresh one when None).

    The common case (facts of one ticket the model does not hold yet: every part, every
    ticket of a rebuild) is folded by `_fold_alone`, the ticket's counts kept in local dicts
    and handed to the model once; anything else goes fact by fact through the model's
    methods (`_fold_by_calls`). Both leave the same model."""
    model = model if model is not None else KpiModel()
    ordered = sorted(facts, key=Fact.sort_key)
    if ordered:
        ticket_id = ordered[0].ticket_id
        if ticket_id not in model.tickets:
            traits = _ticket_traits(ordered, ticket_id)
            if traits is not None:  # the facts are all of that ticket
                _fold_alone(ticket_id, ordered, traits, model)
                return model
    _fold_by_calls(ordered, model)
    return model


def _fold_by_calls(ordered: list[Fact], model: KpiModel) -> None:
    """`fold_ticket` through the model's fact methods, one call a fact (sorted facts)."""
    traits = _ticket_traits(ordered)
    assert traits is not None  # (no ticket id to check: always found)
    county, category, channel, met, sent_back = traits
    dims = {"channel": channel, "county": county, "category": category}
    assigned_at: dict[str, datetime] = {}
    seen_assignments: set[tuple[str, int]] = set()
    holder, reopens = "", 0
    for f in ordered:
        t, unit = f.ticket_id, f.get("unit") or holder
        if f.kind == "submitted":
            model.received(t, f.at, **dims)
        elif f.kind == "accepted":
            model.accepted(t, f.at)
        elif f.kind in ASSIGNING:
            if f.kind == "transferred" and f.get("from_unit"):
                model.handed_on(t, f.at, unit=f.get("from_unit"), quiet=True)
            for u, no in units_assigned(f):
                if no and (u, no) in seen_assignments:
                    continue  # the same assignment told twice (e.g. transfer + TicketAssigned)
                seen_assignments.add((u, no))
                assigned_at[u] = f.at
                model.assigned(t, f.at, unit=u)
            holder = f.get("lead_unit") or f.get("unit") or holder
        elif f.kind == "signed_for":
            model.signed_for(t, f.at, unit=unit, elapsed=_since(assigned_at, unit, f.at))
        elif f.kind == "bounced_back":
            model.bounced_back(t, f.at, unit=unit)
            holder = "" if unit == holder else holder
        elif f.kind == "withdrawn":
            model.handed_on(t, f.at, unit=unit)
        elif f.kind == "replied" and f.event_id not in sent_back:
            model.replied(t, f.at, unit=unit, on_time=(reopens + 1) in met,
                          handling_time=_since(assigned_at, unit, f.at))
        elif f.kind == "closed":
            model.closed(t, f.at, unit=unit)
        elif f.kind in ("rated", "unrated"):
            model.rated(t, f.at, unit=unit, rating=f.get("rating") or "unrated")
        elif f.kind == "callback":
            # reached without a stated satisfaction gives no verdict, like an unreachable one
            outcome = f.get("satisfaction") if f.get("reached", False) else ""
            model.callback(t, f.at, unit=unit, outcome=outcome or "unreachable")
        elif f.kind == "reopened":
            model.reopened(t, f.at, unit=unit)
            reopens += 1



def _fold_alone(t: str, ordered: list[Fact], traits: _Traits, model: KpiModel,
                keep: bool = True, unit_kinds: dict[str, str] | None = None
                ) -> tuple[bool, int]:
    """`_fold_by_calls` of one ticket the model does not hold (sorted facts, all of it):
    the same steps as KpiModel's fact methods, in the same order, with the ticket's state,
    its bucket keys and its pending counts in local variables (a counter bumped is one dict
    update, not the four calls of `_bump_ticket` / `_bump_unit` and their look-ups), then
    `KpiModel.take_ticket` once. Keep it in step with kpis.KpiModel's methods: the tests
    fold every case both ways and compare.

    ``keep=False`` (`LiveKpis.of_tickets`, whose model lets every ticket's state go at the
    end): the counts only; the state the fold reads (closed, reopened, held, verdicts) is
    kept in local dicts as usual, but not what only the model's copy of it holds (the
    periods as a dict, the dimensions, the units under the ticket), and nothing is handed to
    the model. Returns (whether the ticket was received, its unmatched facts).
    ``unit_kinds``: the assigned units' kinds are noted there as `LiveKpis.of_tickets` notes
    them, fact by fact in this order (the caller's when its facts come in sorted order)."""
    county, category, channel, met, sent_back = traits
    assigned_at: dict[str, datetime] = {}
    seen_assignments: set[tuple[str, int]] = set()
    holder, reopens, unmatched = "", 0, 0
    ticket: dict[str, Any] | None = None
    keys: tuple[str, ...] | None = None
    tc: dict[str, int] = {}  # the pending counts of the ticket's buckets (keys)
    outcomes: dict[str, Any] = {}  # the ticket's "units": unit -> outcome
    unit_keys: dict[str, tuple[str, ...]] = {}
    unit_counts: dict[str, dict[str, int]] = {}
    pending, slots = model.counts_to_add()  # bumped in place, as KpiModel._add does
    for f in ordered:
        kind, attrs = f.kind, f.attrs
        if kind == "submitted":
            if ticket is None:
                periods = _periods_at(f.at)  # periods_of's, as pairs
                if keep:
                    ticket = _new_outcome(dict(periods))
                    ticket["dims"] = {"county": county, "category": category,
                                      "channel": channel}
                    ticket["units"] = outcomes
                else:
                    ticket = _new_outcome(periods)  # type: ignore[arg-type]
                keys = _dimension_keys(county, category, channel, periods)
                tc = _counts(pending, keys)
                tc["received"] = tc.get("received", 0) + 1
            continue
        if kind in ASSIGNING:
            if kind == "transferred" and ticket is not None:  # KpiModel.handed_on, quiet
                away = attrs.get("from_unit") or ""
                _let_go(outcomes.get(away), unit_counts.get(away))
            if kind == "coordinated":
                assigned = units_assigned(f)
            else:  # units_assigned's other case, inline
                no = int(attrs.get("assignment_no") or 0)
                one = attrs.get("unit")
                assigned = [(one, no)] if one else []
            if unit_kinds is not None:
                for u, _ in assigned:
                    unit_kinds[u] = attrs.get("unit_kind") or unit_kinds.get(u, "")
            for u, no in assigned:
                if no and (u, no) in seen_assignments:
                    continue
                seen_assignments.add((u, no))
                assigned_at[u] = f.at
                if ticket is None:
                    unmatched += 1
                    continue
                tc["assigned"] = tc.get("assigned", 0) + 1
                uc = unit_counts.get(u)
                if uc is None:
                    periods = _periods_at(f.at)
                    outcomes[u] = _new_outcome(dict(periods) if keep else periods)  # type: ignore[arg-type]
                    uk = unit_keys[u] = _unit_keys_of(u, periods)
                    uc = pending.get(uk)  # (_counts, inline)
                    if uc is None:
                        uc = pending[uk] = {}
                    unit_counts[u] = uc
                uc["assigned"] = uc.get("assigned", 0) + 1
                held = outcomes[u]  # (_hold, inline)
                if not held.get("held"):
                    held["held"] = True
                    uc["kept"] = uc.get("kept", 0) + 1
            holder = attrs.get("lead_unit") or attrs.get("unit") or holder
            continue
        if kind == "accepted":
            if ticket is None:
                unmatched += 1
            elif not ticket.get("accepted"):
                ticket["accepted"] = True
                tc["accepted"] = tc.get("accepted", 0) + 1
            continue
        if kind not in _COUNTED:
            continue
        unit = attrs.get("unit") or holder
        if kind == "bounced_back":
            holder = "" if unit == holder else holder
        elif kind == "replied" and f.event_id in sent_back:
            continue
        # a fact of the ticket and a unit (KpiModel._pair)
        if ticket is None:
            unmatched += 1
            if kind == "reopened":
                reopens += 1
            elif kind == "callback":
                _callback_outcome(f)  # an unknown outcome fails as KpiModel.callback does
            elif kind in ("rated", "unrated"):
                _rating(attrs.get("rating") or "unrated")
            continue
        outcome: Any = outcomes.get(unit)  # the unit's outcome (KpiModel._pair)
        if outcome is None:
            unmatched += 1
            uc = None
        else:
            uc = unit_counts[unit]
        if kind == "signed_for":
            if uc is not None:
                tc["signed_for"] = tc.get("signed_for", 0) + 1
                uc["signed_for"] = uc.get("signed_for", 0) + 1
                start = assigned_at.get(unit)  # (_since, inline)
                elapsed = max(f.at - start, _NO_TIME) if start else _NO_TIME
                _observe(slots, keys, unit_keys[unit],  # type: ignore[arg-type]
                         ("sign_for_minutes", str(minutes(elapsed))))
        elif kind == "bounced_back":
            if uc is not None:
                tc["bounced_back"] = tc.get("bounced_back", 0) + 1
                uc["bounced_back"] = uc.get("bounced_back", 0) + 1
                _let_go(outcome, uc)
        elif kind == "withdrawn":
            _let_go(outcome, uc)
        elif kind == "replied":
            if uc is not None:
                tc["replied"] = tc.get("replied", 0) + 1
                uc["replied"] = uc.get("replied", 0) + 1
                if (reopens + 1) in met:
                    tc["replied_on_time"] = tc.get("replied_on_time", 0) + 1
                    uc["replied_on_time"] = uc.get("replied_on_time", 0) + 1
                start = assigned_at.get(unit)  # (_since, inline)
                elapsed = max(f.at - start, _NO_TIME) if start else _NO_TIME
                _observe(slots, keys, unit_keys[unit],  # type: ignore[arg-type]
                         ("handling_minutes", str(minutes(elapsed))))
        elif kind == "closed":
            flow: tuple[tuple[str, str], ...] | None = None
            if not ticket["closed"]:
                ticket["closed"] = True
                tc["closed"] = tc.get("closed", 0) + 1
                if not ticket["reopened"]:
                    tc["ever_closed"] = tc.get("ever_closed", 0) + 1
                    flow = _periods_at(f.at)
                    fc = _counts(pending, _dimension_keys(county, category, channel, flow))
                    fc["closed_in_period"] = fc.get("closed_in_period", 0) + 1
            if uc is not None:
                _hold(outcome, uc)
            for name, held in closing_order(outcomes, unit if uc is not None else ""):
                if held["closed"]:
                    continue
                held["closed"] = True
                hc = unit_counts[name]
                hc["closed"] = hc.get("closed", 0) + 1
                if not held["reopened"]:
                    hc["ever_closed"] = hc.get("ever_closed", 0) + 1
                    if flow is None:
                        flow = _periods_at(f.at)
                    fc = _counts(pending, _unit_keys_of(name, flow))
                    fc["closed_in_period"] = fc.get("closed_in_period", 0) + 1
        elif kind == "reopened":
            # the ticket, then every unit it was closed for (KpiModel.reopened)
            for target, counts in ((ticket, tc), *((outcomes[u], unit_counts[u])
                                                   for u in outcomes)):
                if not target["closed"]:
                    continue  # only a closed ticket can be reopened
                target["closed"] = False
                counts["closed"] = counts.get("closed", 0) - 1
                if not target["reopened"]:
                    target["reopened"] = True
                    counts["reopened"] = counts.get("reopened", 0) + 1
            reopens += 1
        else:  # rated, unrated, callback
            if kind == "callback":
                value, source = _callback_outcome(f), "callback"
                counter = f"callbacks_{value}"
            else:
                value, source = _rating(attrs.get("rating") or "unrated"), "rating"
                counter = f"ratings_{value}"
            points = VERDICT_POINTS.get(value)
            _verdict(tc, ticket, source, counter, points)
            if uc is not None:
                _verdict(uc, outcome, source, counter, points)
    if keep:
        model.take_ticket(t, ticket, keys, unit_keys, unmatched)
    return ticket is not None, unmatched


_Traits = tuple[str, str, str, set[int], set[str]]
# the kinds `_ticket_traits` reads
_TRAIT_KINDS = frozenset(("submitted", "assigned", "queued", "reopened", "deadline_met",
                          "replied", "reply_reviewed"))
NEEDS_LONGER = "needs_longer"  # a reply outcome that is not the answer yet


def _ticket_traits(ordered: list[Fact], ticket_id: str | None = None) -> _Traits | None:
    """What a ticket's fold reads from all its sorted facts, in one pass over them:
    `ticket_dims` (county, category, channel), the clock numbers sla settled as met, and the
    event ids of replies the platform's review sent back to the unit. With `ticket_id`: None
    when a fact is not of that ticket."""
    submitted = first = queued = None
    met: set[int] = set()
    reopens = 0
    last_reply: dict[str, str] = {}
    sent_back: set[str] = set()
    for f in ordered:
        if ticket_id is not None and f.ticket_id != ticket_id:
            return None
        kind = f.kind
        if kind not in _TRAIT_KINDS:
            continue  # (most facts: accepted, signed for, withdrawn, closed, rated, ...)
        if kind == "submitted":
            if submitted is None:
                submitted = f
        elif kind == "assigned":
            if first is None:
                first = f
        elif kind == "queued":
            if queued is None and f.attrs.get("county"):  # (f.get's truth)
                queued = f
        elif kind == "reopened":
            reopens += 1
        elif kind == "deadline_met":
            met.add(int(f.attrs.get("clock_no") or 0) or reopens + 1)
        elif kind == "replied" and f.attrs.get("outcome") == NEEDS_LONGER:
            # 需较长时间办理: an interim answer, the unit keeps the ticket; its final reply
            # is the one counted (replied, on time, handling time), as after a send-back
            sent_back.add(f.event_id)
        elif kind == "replied":
            last_reply[f.get("unit")] = f.event_id
        elif kind == "reply_reviewed" and f.get("unit") in last_reply:
            reply = last_reply.pop(f.get("unit"))
            if not f.get("accepted", True):
                sent_back.add(reply)
    channel, county, category = _dims_of(submitted, first, queued)
    return county, category, channel, met, sent_back


# `local_date` of the times a live refold meets again (each fact of a ticket in flight is
# folded once a fact of it arrives); equal instants have one local date, so equal keys agree
_local_date = lru_cache(maxsize=1 << 12)(local_date)


@lru_cache(maxsize=1 << 12)
def _periods_at(at: datetime) -> tuple[tuple[str, str], ...]:
    """The periods of an instant's local day, as pairs (`periods_of`'s): one cache look-up
    where `_periods_of_day(_local_date(at))` made two."""
    return _periods_of_day(_local_date(at))

# the kinds `_fold_alone` counts against a ticket and a unit (besides submitted, accepted
# and the assigning ones)
_COUNTED = frozenset(("signed_for", "bounced_back", "withdrawn", "replied", "closed", "rated",
                      "unrated", "callback", "reopened"))


def _hold(outcome: dict[str, Any], counts: dict[str, int]) -> None:
    """KpiModel._hold on a unit's outcome and pending counts."""
    if not outcome.get("held"):
        outcome["held"] = True
        counts["kept"] = counts.get("kept", 0) + 1


def _let_go(outcome: dict[str, Any] | None, counts: dict[str, int] | None) -> None:
    """KpiModel._let_go on a unit's outcome and pending counts (None: a unit never given
    the ticket)."""
    if outcome is not None and counts is not None and outcome.get("held"):
        outcome["held"] = False
        counts["kept"] = counts.get("kept", 0) - 1


def _callback_outcome(f: Fact) -> str:
    # reached without a stated satisfaction gives no verdict, like an unreachable one
    outcome = f.get("satisfaction") if f.get("reached", False) else ""
    outcome = outcome or "unreachable"
    try:
        return _OUTCOMES[outcome]
    except (KeyError, TypeError):  # not a value's own name: the enum says (or fails)
        return CallbackOutcome(outcome).value


# `Rating(x).value` / `CallbackOutcome(x).value` of a value named exactly, by one dict look-up
# (the enum's call is ~1 µs); anything else (an unknown value, a member) goes to the enum,
# which answers or raises as before
_RATINGS = {r.value: r.value for r in Rating}
_OUTCOMES = {o.value: o.value for o in CallbackOutcome}


def _rating(rating: Any) -> str:
    try:
        return _RATINGS[rating]
    except (KeyError, TypeError):  # not a value's own name: the enum says (or fails)
        return Rating(rating).value


def _counts(pending: dict[tuple[str, ...], dict[str, int]], keys: tuple[str, ...]
            ) -> dict[str, int]:
    counts = pending.get(keys)
    if counts is None:
        counts = pending[keys] = {}
    return counts


def _observe(slots: dict[tuple[str, ...], dict[tuple[str, str], int]], keys: tuple[str, ...],
             unit_keys: tuple[str, ...], entry: tuple[str, str]) -> None:
    for k in (keys, unit_keys):
        counts = slots.get(k)
        if counts is None:
            slots[k] = {entry: 1}
        else:
            counts[entry] = counts.get(entry, 0) + 1


def _verdict(counts: dict[str, int], target: dict[str, Any], source: str, counter: str,
             points: int | None) -> None:
    """KpiModel._verdict on a ticket's (or unit's) pending counts."""
    counts[counter] = counts.get(counter, 0) + 1
    if points is None:
        return  # unrated / unreachable: no verdict, and no earlier one is erased
    newly_rated, points_x10 = set_verdict(target, source, points)
    if newly_rated:
        counts["rated"] = counts.get("rated", 0) + 1
    counts["satisfaction_points_x10"] = counts.get("satisfaction_points_x10", 0) + points_x10


def _since(assigned_at: dict[str, datetime], unit: str, at: datetime) -> timedelta:
    start = assigned_at.get(unit)
    return max(at - start, _NO_TIME) if start else _NO_TIME


_NO_TIME = timedelta(0)


def add_into(total: KpiModel, part: KpiModel, sign: int, elsewhere: Any = None) -> None:
    """total += sign * part, for a part folded from tickets the total holds (or will hold).
    The total keeps the buckets and counts only: the tickets' own state stays in the parts.

    A part fresh from `fold_ticket` holds its counts still pending (bucket keys -> deltas,
    KpiModel.unsettled): they are added to the total's buckets as they are, without first
    making the part's ~20 full buckets and walking every counter of each (two thirds of the
    live fold's time went there: docs/benchmarks.md, session 12). A part whose buckets were
    already read is added bucket by bucket. Either way an emptied bucket is dropped."""
    total.unmatched_facts += sign * part.unmatched_facts
    total.tickets_released += sign * part.ticket_count  # the total keeps no ticket's state
    unsettled = part.unsettled()
    if unsettled is None:  # its buckets were read: add what they hold
        _add_buckets(total, part.buckets, sign, elsewhere)
        return
    pending, pending_slots = unsettled
    buckets = total.buckets
    _drop_emptied(buckets, pour(buckets, pending, pending_slots, sign, elsewhere))


def replace_part(total: KpiModel, old: KpiModel | None, new: KpiModel,
                 elsewhere: Any = None) -> None:
    """total += new - old: a ticket refolded with more facts. Where both parts are fresh from
    `fold_ticket`, only their difference is poured (bucket keys -> counter -> change, zero
    changes left out): a new fact changes a few counters of a ticket's ~20 buckets, and taking
    the old part out bucket by bucket and adding the new one back walked every counter of
    both (the pour was a seventh of analytics' CPU under load, py-spy, session 13).
    `elsewhere`: see `kpis.pour` (a bucket of a period no longer in memory)."""
    theirs, mine = (old.unsettled() if old is not None else ({}, {})), new.unsettled()
    if theirs is None or mine is None:
        if old is not None:
            add_into(total, old, -1, elsewhere)
        add_into(total, new, +1, elsewhere)
        return
    total.unmatched_facts += new.unmatched_facts - (old.unmatched_facts if old is not None else 0)
    total.tickets_released += new.ticket_count - (old.ticket_count if old is not None else 0)
    buckets = total.buckets
    _drop_emptied(buckets, pour(buckets, _difference(mine[0], theirs[0]),
                                _difference(mine[1], theirs[1]), 1, elsewhere))


def _difference(new: dict[Any, dict[Any, int]], old: dict[Any, dict[Any, int]]
                ) -> dict[Any, dict[Any, int]]:
    """new - old of two parts' pending counts (keys -> name -> count), without zeros."""
    out: dict[Any, dict[Any, int]] = {}
    for keys, counts in new.items():
        before = old.get(keys)
        if before is None:
            out[keys] = counts
            continue
        changed = {name: n - before.get(name, 0) for name, n in counts.items()
                   if n != before.get(name, 0)}
        changed.update((name, -n) for name, n in before.items() if name not in counts and n)
        if changed:
            out[keys] = changed
    for keys, counts in old.items():
        if keys not in new:
            out[keys] = {name: -n for name, n in counts.items() if n}
    return out


def _add_buckets(total: KpiModel, theirs_by_key: dict[str, dict[str, Any]], sign: int,
                 elsewhere: Any = None) -> None:
    for key, theirs in theirs_by_key.items():
        mine = total.buckets.get(key)
        if mine is None:
            away = elsewhere(key) if elsewhere is not None else None
            if away is not None:  # a period out of memory: its counters only, or nothing
                if away is not DROP:
                    for name in COUNTERS:
                        away[name] += sign * theirs[name]
                continue
            mine = total.buckets[key] = {n: 0 for n in COUNTERS} | {h: {} for h in HISTOGRAMS}
        for name in COUNTERS:
            mine[name] += sign * theirs[name]
        for name in HISTOGRAMS:
            for slot, count in theirs[name].items():
                left = mine[name].get(slot, 0) + sign * count
                if left:
                    mine[name][slot] = left
                else:
                    mine[name].pop(slot, None)
        if not any(mine[n] for n in COUNTERS) and not any(mine[h] for h in HISTOGRAMS):
            del total.buckets[key]  # an emptied bucket is as if it never existed


def drop_empty_buckets(model: KpiModel) -> None:
    """Remove the buckets whose counters are all zero and histograms empty."""
    _drop_emptied(model.buckets, list(model.buckets))


def _drop_emptied(buckets: dict[str, dict[str, Any]], keys: Iterable[str]) -> None:
    """Of ``keys``, drop the buckets left with every counter zero and every histogram empty:
    an emptied bucket is as if it never existed. A key with no bucket (poured elsewhere:
    `kpis.pour`) is passed over."""
    for key in keys:
        bucket = buckets.get(key)
        if bucket is None:
            continue
        value = bucket.__getitem__  # map(...): no generator frame per bucket
        if not any(map(value, COUNTERS)) and not any(map(value, HISTOGRAMS)):
            del buckets[key]


@dataclass(frozen=True)
class Retention:
    """Which periods' buckets the live total keeps in memory: the last `days` days, `weeks`
    ISO weeks and `months` months up to the latest business time seen (0: every period of
    that kind). A period older than that is folded on demand from the facts table when asked
    (`LiveKpis.model_for`); `cached_buckets` buckets of such folds are kept (least recently
    read out first, dropped when a late fact touches their period). The defaults keep what
    the dashboard and the monthly report read by default: a month and the previous one, their
    days (at most 62), a third month for the publication's grace, two months of weeks
    (settings.py)."""

    days: int = 62
    weeks: int = 9
    months: int = 3
    cached_buckets: int = 2048


# (start, end) -> every fact of each ticket that counts in a period within [start, end),
# ticket by ticket (adapters/fact_store.period_tickets)
PeriodFacts = Callable[[datetime, datetime], Iterable[list[Fact]]]
_CITY_HEAD = f"all|{CITY}"


class LiveKpis:
    """The KPI model kept up to date fact by fact; thread-safe (one lock).

    Memory does not grow with the history when `tickets_kept` is set: the facts of the
    tickets refolded most recently are kept (`facts`, at most `tickets_kept` tickets after
    each batch, least recently refolded out first) and the total keeps buckets and counts
    only. A fact of a ticket whose facts are not in memory comes with the ticket's facts
    folded before it (`apply`'s `earlier`, read back from the facts table by the tail), which
    give the ticket's old contribution. Nothing is kept of a ticket let go, not even its id.
    Without `tickets_kept` (a rebuild, a test) every fact stays in memory.

    Nor do the buckets grow with the calendar when `retention` is set: the total keeps the
    buckets of the recent periods only (`Retention`, relative to `latest`); a pour into an
    older period is passed over where it would make a bucket (`kpis.pour`'s `elsewhere`:
    asked only for a bucket not in memory, so the live fold's common path is unchanged), but
    the months' counters go on adding up per dimension value (`month_totals`: the all-time
    counts), and the months with data are remembered (`months`). Every reader of buckets
    goes through `model_for` / `models_for`: a period in memory is copied from the total, an
    older one is folded exactly from the facts table (`period_facts`)."""

    PARTS_KEPT = 2048  # tickets whose last fold is kept (~4 KB each: ~8.5 MB at most)

    def __init__(self, tickets_kept: int | None = None, retention: Retention | None = None,
                 period_facts: PeriodFacts | None = None) -> None:
        self.model = KpiModel()
        # ticket id -> event id -> fact, least recently refolded first
        self.facts: OrderedDict[str, dict[str, Fact]] = OrderedDict()
        self.tickets_kept = tickets_kept  # None: every ticket's facts stay in memory
        self.unit_kinds: dict[str, str] = {}
        self.lock = threading.RLock()
        self.fact_count = 0
        self.latest: datetime | None = None  # the latest business time seen
        # the last fold of the tickets refolded most recently: the next fact of a ticket in
        # flight takes its old contribution from here instead of folding its facts again
        self._parts: OrderedDict[str, KpiModel] = OrderedDict()
        self.retention = retention
        self.period_facts = period_facts
        # the oldest period of each kind in memory (None: everything is kept)
        self.first_kept: dict[str, str] | None = None
        self._next_move: datetime | None = None  # the next local midnight after `latest`
        self._elsewhere = self._out_of_memory if retention is not None else None
        # months out of memory: counters per "dimension|value" (no histograms), month names
        self.months_before: dict[str, dict[str, int]] = {}
        self.month_names_before: set[str] = set()
        # old periods folded on demand: (kind, period, dimension, value) -> buckets, LRU
        self._old: OrderedDict[tuple[str, str, str | None, str | None],
                               dict[str, dict[str, Any]]] = OrderedDict()
        self._old_size = 0  # buckets in `_old`
        self._old_index: dict[tuple[str, str], set[tuple[Any, ...]]] = {}
        self._folding: dict[tuple[str, str], int] = {}  # periods being folded on demand
        self._old_changes = 0  # late facts into periods cached or being folded

    @classmethod
    def of_tickets(cls, tickets: dict[str, dict[str, Fact]],
                   retention: Retention | None = None) -> LiveKpis:
        """The state of these facts (ticket id -> event id -> fact), each ticket folded once
        straight into the total: what `apply` gives for the same facts in any order and
        batches (the total is a sum over tickets, and an emptied bucket is dropped; with a
        `retention`, the buckets of the periods out of memory go as the live fold's do)."""
        kpis = cls(retention=retention)
        latest = _fold_released(tickets, kpis)
        if latest is False:  # a ticket the one-ticket path does not take: the fold by parts
            kpis = cls(retention=retention)
            latest = _fold_held(tickets, kpis)
        model = kpis.model
        model.release_tickets()  # as the live total: buckets and counts only
        kpis.facts = OrderedDict(tickets)
        kpis.latest = latest  # type: ignore[assignment]
        drop_empty_buckets(model)
        kpis._follow_clock()
        return kpis

    def knows(self, event_id: str, ticket_id: str) -> bool:
        """Whether the fact is in memory (a ticket let go knows none: its facts come back
        from the table with the next fact of it, and a copy of one is dropped then)."""
        facts = self.facts.get(ticket_id)
        return facts is not None and event_id in facts

    def away(self, ticket_ids: Iterable[str]) -> list[str]:
        """Of these tickets, the ones whose facts folded before may not be in memory: none
        when every ticket stays (no `tickets_kept`)."""
        if self.tickets_kept is None:
            return []
        facts = self.facts
        return [t for t in ticket_ids if t not in facts]

    def apply(self, facts: Iterable[Fact],
              earlier: dict[str, list[Fact]] | None = None) -> int:
        """Add facts (known ones are ignored); refold each touched ticket once.

        `earlier`: for the touched tickets not in memory (`away`), their facts folded
        before this batch (none for a new ticket); a fact among them is not new."""
        touched: dict[str, dict[str, Fact]] = {}
        memory = self.facts
        for f in facts:
            known = memory.get(f.ticket_id)
            if known is None or f.event_id not in known:
                new = touched.get(f.ticket_id)
                if new is None:
                    new = touched[f.ticket_id] = {}
                new.setdefault(f.event_id, f)
        applied = 0
        with self.lock:
            for ticket_id, new in touched.items():
                applied += self._refold(ticket_id, new, earlier)
            kept = self.tickets_kept
            if kept is not None:
                parts = self._parts
                while len(memory) > kept:
                    ticket_id, _ = memory.popitem(last=False)
                    parts.pop(ticket_id, None)
            if self.retention is not None and self.latest is not None and (
                    self._next_move is None or self.latest >= self._next_move):
                self._follow_clock()
        return applied

    def _refold(self, ticket_id: str, new: dict[str, Fact],
                earlier: dict[str, list[Fact]] | None) -> int:
        known = self.facts.get(ticket_id)
        if known is None:  # a new ticket, or one let go: its facts folded before are given
            known = self.facts[ticket_id] = {f.event_id: f for f in (
                earlier.get(ticket_id, ()) if earlier else ())}
            old = fold_ticket(known.values()) if known else None
            fresh = [f for f in new.values() if f.event_id not in known]
            if not fresh:
                return 0
        else:
            self.facts.move_to_end(ticket_id)
            old = self._parts.pop(ticket_id, None)
            if old is None and known:
                old = fold_ticket(known.values())
            fresh = list(new.values())
        for f in fresh:
            known[f.event_id] = f
            self.fact_count += 1
            if self.latest is None or f.at > self.latest:
                self.latest = f.at
            for unit, _ in units_assigned(f) if f.kind in ASSIGNING else ():
                self.unit_kinds[unit] = f.get("unit_kind") or self.unit_kinds.get(unit, "")
        part = fold_ticket(known.values())
        replace_part(self.model, old, part, self._elsewhere)
        self._parts[ticket_id] = part
        if len(self._parts) > self.PARTS_KEPT:
            self._parts.popitem(last=False)
        return len(fresh)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.model.to_dict()

    # ---- periods in and out of memory ----------------------------------------------------
    def _follow_clock(self) -> None:
        """Move the periods kept to `latest`'s (a new local day): the buckets of the periods
        left behind go (a month's counters into `months_before`). Under the lock."""
        r, latest = self.retention, self.latest
        if r is None or latest is None:
            return
        day = local_date(latest)
        nxt = day + timedelta(days=1)
        self._next_move = datetime(nxt.year, nxt.month, nxt.day, tzinfo=city_tz())
        first = first_kept(day, max(r.days, 1), max(r.weeks, 1), max(r.months, 1))
        for kind, n in (("day", r.days), ("week", r.weeks), ("month", r.months)):
            if n <= 0:
                first[kind] = ""
        if first == self.first_kept:
            return
        self.first_kept = first
        buckets = self.model.buckets
        before, names = self.months_before, self.month_names_before
        for key in [k for k in buckets if k.rsplit("|", 2)[2] < first[k.rsplit("|", 2)[1]]]:
            bucket = buckets.pop(key)
            head, kind, period = key.rsplit("|", 2)
            if kind != "month":
                continue
            counters = before.get(head)
            if counters is None:
                counters = before[head] = dict.fromkeys(COUNTERS, 0)
            for name in COUNTERS:
                counters[name] += bucket[name]
            if head == _CITY_HEAD:
                names.add(period)

    def _out_of_memory(self, key: str) -> dict[str, Any] | None:
        """`pour`'s `elsewhere`, for a key with no bucket in memory: None (make it) when its
        period is kept; else a month's counters go on adding up per value, a day's or a
        week's go nowhere, and an on-demand fold of that period is stale. Under the lock."""
        first = self.first_kept
        if first is None:
            return None
        head, kind, period = key.rsplit("|", 2)
        if period >= first[kind]:
            return None
        old = (kind, period)
        if old in self._folding or old in self._old_index:
            self._old_changes += 1
            for entry in self._old_index.pop(old, ()):
                self._old_size -= len(self._old.pop(entry))
        if kind != "month":
            return DROP
        if head == _CITY_HEAD:
            self.month_names_before.add(period)
        counters = self.months_before.get(head)
        if counters is None:
            counters = self.months_before[head] = dict.fromkeys(COUNTERS, 0)
        return counters

    def in_memory(self, kind: str, period: str) -> bool:
        first = self.first_kept
        return first is None or period >= first[kind]

    def model_for(self, kind: str, period: str, dimension: str | None = None,
                  value: str | None = None) -> KpiModel:
        """A model holding the period's buckets (of one dimension, of one value, or all), for
        `figures.figures` / `table` and the ranking: copied from the live total when the
        period is in memory, else folded from the facts table (or the cache of such folds).
        The one way to read buckets (API figures, trends, rankings, reports)."""
        return self.models_for(kind, [period], dimension, value)[period]

    def models_for(self, kind: str, periods: list[str], dimension: str | None = None,
                   value: str | None = None) -> dict[str, KpiModel]:
        """`model_for` of several periods of one kind (a trend): the old ones not cached are
        folded together, one query over their span."""
        out: dict[str, KpiModel] = {}
        missing: list[str] = []
        with self.lock:
            for period in periods:
                if self.in_memory(kind, period):
                    out[period] = _model_of(self._copy(kind, period, dimension, value))
                    continue
                cached = self._cached(kind, period, dimension, value)
                if cached is None:
                    missing.append(period)
                else:
                    out[period] = _model_of(cached)
            for period in missing:
                self._folding[(kind, period)] = self._folding.get((kind, period), 0) + 1
            changes = self._old_changes
        if missing:
            folded: dict[str, dict[str, dict[str, Any]]] = {}
            try:
                folded = self._fold_old(kind, missing, dimension, value)
            finally:
                with self.lock:
                    for period in missing:
                        left = self._folding.pop((kind, period)) - 1
                        if left:
                            self._folding[(kind, period)] = left
                    if changes == self._old_changes:  # no late fact into them meanwhile
                        for period, buckets in folded.items():
                            self._keep_old((kind, period, dimension, value), buckets)
            for period in missing:
                out[period] = _model_of(folded.get(period, {}))
        return {period: out[period] for period in periods}

    def month_totals(self, dimension: str) -> dict[str, dict[str, int]]:
        """Per value of a dimension, every month's counters summed (all time)."""
        totals: dict[str, dict[str, int]] = {}
        prefix = dimension + "|"
        with self.lock:
            for key, bucket in self.model.buckets.items():
                head, kind, _ = key.rsplit("|", 2)
                if kind == "month" and head.startswith(prefix):
                    _add_counters(totals, head[len(prefix):], bucket)
            for head, counters in self.months_before.items():
                if head.startswith(prefix):
                    _add_counters(totals, head[len(prefix):], counters)
        return totals

    def months(self) -> list[str]:
        """Months with tickets: in memory or before."""
        prefix = f"{_CITY_HEAD}|month|"
        with self.lock:
            found = {k[len(prefix):] for k in self.model.buckets if k.startswith(prefix)}
            return sorted(found | self.month_names_before)

    def _copy(self, kind: str, period: str, dimension: str | None,
              value: str | None) -> dict[str, dict[str, Any]]:
        buckets = self.model.buckets
        if dimension is not None and value is not None:
            key = bucket_key(dimension, value, kind, period)
            found = buckets.get(key)
            return {key: _bucket_copy(found)} if found is not None else {}
        tail, head = f"|{kind}|{period}", f"{dimension}|" if dimension is not None else ""
        return {k: _bucket_copy(b) for k, b in buckets.items()
                if k.endswith(tail) and k.startswith(head)}

    def _cached(self, kind: str, period: str, dimension: str | None,
                value: str | None) -> dict[str, dict[str, Any]] | None:
        for entry in ((kind, period, dimension, value), (kind, period, dimension, None),
                      (kind, period, None, None)):
            found = self._old.get(entry)
            if found is not None:
                self._old.move_to_end(entry)
                return found
        return None

    def _keep_old(self, entry: tuple[str, str, str | None, str | None],
                  buckets: dict[str, dict[str, Any]]) -> None:
        limit = self.retention.cached_buckets if self.retention is not None else 0
        if len(buckets) > limit or entry in self._old:
            return
        self._old[entry] = buckets
        self._old_index.setdefault(entry[:2], set()).add(entry)
        self._old_size += len(buckets)
        while self._old_size > limit:
            gone, dropped = self._old.popitem(last=False)
            self._old_size -= len(dropped)
            index = self._old_index[gone[:2]]
            index.discard(gone)
            if not index:
                del self._old_index[gone[:2]]

    def _fold_old(self, kind: str, periods: list[str], dimension: str | None,
                  value: str | None) -> dict[str, dict[str, dict[str, Any]]]:
        """The buckets of old periods, exactly: the tickets that count in them (received, given
        to a unit or closed in their span) read from the facts table, each folded whole,
        and only the buckets asked for kept. Outside the lock."""
        if self.period_facts is None:
            raise RuntimeError("no facts table to fold an old period from")
        spans = [period_bounds(kind, p) for p in periods]
        wanted = set(periods)
        verdict: dict[str, bool] = {}

        def elsewhere(key: str) -> dict[str, Any] | None:
            ok = verdict.get(key)
            if ok is None:
                head, k, p = key.rsplit("|", 2)
                dim, _, val = head.partition("|")
                ok = verdict[key] = (k == kind and p in wanted and dimension in (None, dim)
                                     and value in (None, val))
            return None if ok else DROP

        buckets: dict[str, dict[str, Any]] = {}
        for facts in self.period_facts(min(s for s, _ in spans), max(e for _, e in spans)):
            pending, slots = fold_ticket(facts).unsettled()  # type: ignore[misc]
            pour(buckets, pending, slots, 1, elsewhere)
        _drop_emptied(buckets, list(buckets))
        out: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in periods}
        for key, bucket in buckets.items():
            out[key.rsplit("|", 1)[1]][key] = bucket
        return out


def _fold_held(tickets: dict[str, dict[str, Fact]], kpis: LiveKpis) -> datetime | None:
    """`LiveKpis.of_tickets`' fold, every ticket through `fold_ticket` (its state handed to
    the model, let go at the end); returns the latest time."""
    model, unit_kinds = kpis.model, kpis.unit_kinds
    latest = None
    for facts in tickets.values():
        fold_ticket(facts.values(), model)
        for f in facts.values():
            if latest is None or f.at > latest:
                latest = f.at
            if f.kind in ASSIGNING:
                for unit, _ in units_assigned(f):
                    unit_kinds[unit] = f.get("unit_kind") or unit_kinds.get(unit, "")
        kpis.fact_count += len(facts)
    return latest


def _fold_released(tickets: dict[str, dict[str, Fact]], kpis: LiveKpis
                   ) -> datetime | bool | None:
    """`_fold_held` where every ticket is keyed by its own id and its facts are all of it
    (what a rebuild and the facts table give): each ticket is then new to the model and goes
    through `_fold_alone`, so its state need not be handed to the model that lets it go at
    the end (`_fold_alone`'s ``keep=False``; the count of tickets received and the unmatched
    facts are added here), and a ticket's latest time is its last sorted fact's. False as
    soon as a ticket is not so (the caller folds them all again by `_fold_held`)."""
    model, unit_kinds = kpis.model, kpis.unit_kinds
    latest = None
    received = unmatched = facts_seen = 0
    sort_key = Fact.sort_key
    for ticket_id, facts in tickets.items():
        listed = facts.values()
        ordered = sorted(listed, key=sort_key)
        if not ordered:
            continue  # nothing to fold (fold_ticket of no facts changes nothing)
        if ordered[0].ticket_id != ticket_id:
            return False
        traits = _ticket_traits(ordered, ticket_id)
        if traits is None:
            return False
        in_order = all(map(is_, ordered, listed))
        got, lost = _fold_alone(ticket_id, ordered, traits, model, keep=False,
                                unit_kinds=unit_kinds if in_order else None)
        received += got
        unmatched += lost
        last = ordered[-1].at  # the latest of the ticket: times come first in the sort key
        if latest is None or last > latest:
            latest = last
        if not in_order:  # the units' kinds in the facts' own order
            for f in listed:
                if f.kind in ASSIGNING:
                    for unit, _ in units_assigned(f):
                        unit_kinds[unit] = f.get("unit_kind") or unit_kinds.get(unit, "")
        facts_seen += len(facts)
    model.unmatched_facts += unmatched
    model.tickets_released += received
    kpis.fact_count += facts_seen
    return latest


def _model_of(buckets: dict[str, dict[str, Any]]) -> KpiModel:
    model = KpiModel()
    model.buckets = buckets
    return model


def _bucket_copy(bucket: dict[str, Any]) -> dict[str, Any]:
    copy = bucket.copy()
    for name in HISTOGRAMS:
        copy[name] = dict(bucket[name])
    return copy


def _add_counters(totals: dict[str, dict[str, int]], value: str, counters: dict[str, Any]
                  ) -> None:
    row = totals.get(value)
    if row is None:
        row = totals[value] = dict.fromkeys(COUNTERS, 0)
    for name in COUNTERS:
        row[name] += counters[name]


def ticket_texts(tickets: Iterable[Iterable[Fact]], start: datetime, end: datetime
                 ) -> list[TicketText]:
    """Masked texts of those tickets submitted in [start, end), for hot topics."""
    out = []
    for facts in tickets:
        text = ticket_text(list(facts))
        if text is not None and start <= text.at < end:
            out.append(text)
    return out


def ticket_text(facts: list[Fact]) -> TicketText | None:
    ordered = sorted(facts, key=Fact.sort_key)
    submitted = next((f for f in ordered if f.kind == "submitted"), None)
    if submitted is None or not submitted.get("text"):
        return None
    first = next((f for f in ordered if f.kind == "assigned"), None)
    dims = ticket_dims(ordered)
    category = first.get("subcategory") if first else ""
    units = tuple(dict.fromkeys(u for f in ordered if f.kind in ASSIGNING
                                for u, _ in units_assigned(f)))
    return TicketText(
        ticket_id=submitted.ticket_id, text=submitted.get("text"), at=submitted.at,
        category=category or submitted.get("category_hint") or dims["category"],
        county=dims["county"], place=place_in(submitted.get("address")), units=units)
