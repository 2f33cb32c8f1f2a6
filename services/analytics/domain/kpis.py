"""The incremental KPI model: lifecycle facts in, per-bucket counters out.

Why a plain model and not an eventsourcing aggregate: analytics has no invariants to guard,
only sums to keep. It is a fold over the lifecycle topic, so the service can run it inside a
faust table or rebuild it from the audit ledger, and both give the same state because the
fold is deterministic (no clocks, no randomness, integers only; see docs/kpis.md).

Attribution rule (the one a clerk needs to recount): every outcome of a ticket counts in the
period in which the ticket was *received* (for a unit's figures: in which it was first
*assigned* to that unit), whenever the outcome arrives. Only `closed_in_period` counts by the
close event's own time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from services.analytics.domain.periods import minutes, periods_of

STATE_VERSION = 1
CITY = "全市"
DIMENSIONS = ("all", "county", "category", "channel", "unit")
TICKET_DIMENSIONS = ("county", "category", "channel")

COUNTERS = (
    "received", "accepted", "assigned", "signed_for", "bounced_back", "replied",
    "replied_on_time", "closed", "ever_closed", "closed_in_period", "reopened", "rated",
    "satisfaction_points_x10", "ratings_satisfied", "ratings_basically_satisfied",
    "ratings_dissatisfied", "ratings_unrated", "callbacks_satisfied",
    "callbacks_basically_satisfied", "callbacks_dissatisfied", "callbacks_unreachable",
    "kept",
)
HISTOGRAMS = ("sign_for_minutes", "handling_minutes")


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    UNRATED = "unrated"


class CallbackOutcome(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    DISSATISFIED = "dissatisfied"
    UNREACHABLE = "unreachable"


# Points per verdict (满意 / 基本满意 / 不满意); 'unrated' and 'unreachable' give no verdict.
VERDICT_POINTS = {"satisfied": 100, "basically_satisfied": 80, "dissatisfied": 0}
# A ticket with both a citizen rating and a reached callback scores 0.6 callback + 0.4 rating:
# the callback is a staff-verified conversation, the rating a click on the hall.
CALLBACK_WEIGHT_X10 = 6
RATING_WEIGHT_X10 = 4


class KpiStateError(ValueError):
    """A stored state cannot be read or two states cannot be merged."""


def verdict_x10(rating: int | None, callback: int | None) -> int | None:
    """A ticket's satisfaction in tenths of points (0..1000), or None when it has no verdict."""
    if rating is None and callback is None:
        return None
    if rating is None:
        return 10 * callback  # type: ignore[operator]
    if callback is None:
        return 10 * rating
    return CALLBACK_WEIGHT_X10 * callback + RATING_WEIGHT_X10 * rating


def bucket_key(dimension: str, value: str, kind: str, period: str) -> str:
    return f"{dimension}|{value}|{kind}|{period}"


_ZERO_COUNTERS: dict[str, Any] = dict.fromkeys(COUNTERS, 0)


def new_bucket() -> dict[str, Any]:
    bucket = _ZERO_COUNTERS.copy()
    for name in HISTOGRAMS:
        bucket[name] = {}
    return bucket


# what `pour`'s `elsewhere` answers for a bucket not in memory that must not be made
DROP: dict[str, Any] = {}


def pour(buckets: dict[str, dict[str, Any]],
         pending: dict[tuple[str, ...], dict[str, int]],
         pending_slots: dict[tuple[str, ...], dict[tuple[str, str], int]],
         sign: int = 1, elsewhere: Any = None, track: bool = True) -> set[str]:
    """Add ``sign`` times the pending counts (bucket keys -> counter -> delta, and bucket keys
    -> (histogram, slot) -> count) into ``buckets``, making the buckets they name; a slot
    that falls to zero is removed. Returns the keys of the buckets touched (a key poured
    elsewhere may be among them and not in ``buckets``).

    ``elsewhere(key)``, asked only for a key with no bucket in memory (never on the common
    path): None makes the bucket as usual; `DROP` pours nothing there; another dict (its
    counters only, no histograms) takes the counts instead (LiveKpis: a period no longer
    kept in memory, `fold.Retention`). ``track=False``: the keys touched are not gathered
    (an empty set is returned; a model settling its own counts does not read them)."""
    touched: set[str] = set()
    for keys, counts in pending.items():
        changes = counts.items() if sign == 1 else [(name, sign * delta)
                                                    for name, delta in counts.items()]
        for key in keys:
            bucket = buckets.get(key)
            if bucket is None:
                bucket = elsewhere(key) if elsewhere is not None else None
                if bucket is None:
                    bucket = buckets[key] = new_bucket()
                elif bucket is DROP:
                    continue
            for name, delta in changes:
                bucket[name] += delta
        if track:
            touched.update(keys)
    for keys, slots in pending_slots.items():
        for key in keys:
            bucket = buckets.get(key)
            if bucket is None:
                if elsewhere is not None and elsewhere(key) is not None:
                    continue  # no histograms out of memory
                bucket = buckets[key] = new_bucket()
            for (histogram, slot), count in slots.items():
                counts = bucket[histogram]
                left = counts.get(slot, 0) + sign * count
                if left:
                    counts[slot] = left
                else:
                    counts.pop(slot, None)
        if track:
            touched.update(keys)
    return touched


@lru_cache(maxsize=4096)  # a few MB at most: each ticket asks once (KpiModel._keys)
def _dimension_keys(county: str, category: str, channel: str,
                    periods: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """The buckets a ticket counts in: the city and each of its dimensions, in each period."""
    dims = (("all", CITY), ("county", county), ("category", category), ("channel", channel))
    return tuple(bucket_key(dim, value, kind, period)
                 for kind, period in periods for dim, value in dims)


@lru_cache(maxsize=4096)
def _unit_keys_of(unit: str, periods: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    return tuple(bucket_key("unit", unit, kind, period) for kind, period in periods)


def _new_outcome(periods: dict[str, str]) -> dict[str, Any]:
    return {"periods": periods, "closed": False, "reopened": False,
            "rating": None, "callback": None}


class KpiModel:
    """Fold of lifecycle facts into KPI buckets; one method per fact kind.

    Each method takes the fact's own time (`at`, timezone-aware). Facts about a ticket the
    model never saw received (or a unit it never saw assigned) are counted in
    `unmatched_facts` and otherwise ignored, so a partial replay cannot crash a consumer.
    """

    def __init__(self) -> None:
        self.tickets: dict[str, dict[str, Any]] = {}
        self._buckets: dict[str, dict[str, Any]] = {}
        # counts not yet added to their buckets: bucket keys -> counter -> delta (a ticket's
        # facts bump the same keys again and again; they are added once, when read)
        self._pending: dict[tuple[str, ...], dict[str, int]] = {}
        # and observations: bucket keys -> (histogram, slot) -> count
        self._pending_slots: dict[tuple[str, ...], dict[tuple[str, str], int]] = {}
        self.unmatched_facts = 0
        # tickets counted in the buckets whose per-ticket state is not kept here: a live
        # total keeps buckets and counts only (fold.add_into), its tickets' state is in parts
        self.tickets_released = 0
        # the bucket keys of a ticket (or of a unit's outcome) in its own periods, by the
        # identity of its state dict (kept beside the keys, so the identity stays its own): a
        # ticket's dimensions and periods never change once it is received (or assigned)
        self._keys: dict[int, tuple[dict[str, Any], tuple[str, ...]]] = {}

    # ---- facts -----------------------------------------------------------------------
    def received(self, ticket_id: str, at: datetime, *, channel: str, county: str,
                 category: str) -> None:
        if ticket_id in self.tickets:
            return  # a redelivered 'received' must not count twice
        ticket = _new_outcome(periods_of(at))
        ticket["dims"] = {"county": county, "category": category, "channel": channel}
        ticket["units"] = {}
        self.tickets[ticket_id] = ticket
        self._bump_ticket(ticket, "received")

    def accepted(self, ticket_id: str, at: datetime) -> None:
        ticket = self._ticket(ticket_id)
        if ticket is not None and not ticket.get("accepted"):
            ticket["accepted"] = True
            self._bump_ticket(ticket, "accepted")

    def assigned(self, ticket_id: str, at: datetime, *, unit: str) -> None:
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return
        outcome = ticket["units"].get(unit)
        if outcome is None:
            outcome = ticket["units"][unit] = _new_outcome(periods_of(at))
        self._bump_ticket(ticket, "assigned")
        self._bump_unit(ticket, unit, "assigned")
        self._hold(ticket, unit, outcome)

    def signed_for(self, ticket_id: str, at: datetime, *, unit: str,
                   elapsed: timedelta) -> None:
        ticket, outcome = self._pair(ticket_id, unit)
        if outcome is None:
            return
        self._bump_both(ticket, unit, "signed_for")
        self._observe(ticket, unit, "sign_for_minutes", minutes(elapsed))

    def bounced_back(self, ticket_id: str, at: datetime, *, unit: str) -> None:
        ticket, outcome = self._pair(ticket_id, unit)
        if outcome is not None:
            self._bump_both(ticket, unit, "bounced_back")
            self._let_go(ticket, unit, outcome)

    def handed_on(self, ticket_id: str, at: datetime, *, unit: str,
                  quiet: bool = False) -> None:
        """The unit no longer handles the ticket: withdrawn when it was merged into a case
        (并单), or transferred away (`quiet`: part of the transfer's fact, not one of its own,
        so nothing is unmatched)."""
        if quiet:
            ticket = self.tickets.get(ticket_id)
            outcome = ticket["units"].get(unit) if ticket is not None else None
        else:
            ticket, outcome = self._pair(ticket_id, unit)
        if ticket is not None and outcome is not None:
            self._let_go(ticket, unit, outcome)

    def replied(self, ticket_id: str, at: datetime, *, unit: str, on_time: bool,
                handling_time: timedelta) -> None:
        ticket, outcome = self._pair(ticket_id, unit)
        if outcome is None:
            return
        self._bump_both(ticket, unit, "replied")
        if on_time:
            self._bump_both(ticket, unit, "replied_on_time")
        self._observe(ticket, unit, "handling_minutes", minutes(handling_time))

    def closed(self, ticket_id: str, at: datetime, *, unit: str) -> None:
        ticket, outcome = self._pair(ticket_id, unit)
        if ticket is None:
            return
        flow = periods_of(at)
        if not ticket["closed"]:
            ticket["closed"] = True
            self._bump_ticket(ticket, "closed")
            if not ticket["reopened"]:  # first close only: a re-close is not new output
                self._bump_ticket(ticket, "ever_closed")
                self._bump_ticket(ticket, "closed_in_period", periods=flow)
        # closed for the unit it names (which handles it again if it had let it go: a merged
        # ticket answered by its case's unit) and for every unit still holding it (the
        # co-handling units of a coordination)
        if outcome is not None:
            self._hold(ticket, unit, outcome)
        for name, held in closing_order(ticket["units"], unit if outcome is not None else ""):
            if held["closed"]:
                continue
            held["closed"] = True
            self._bump_unit(ticket, name, "closed")
            if not held["reopened"]:
                self._bump_unit(ticket, name, "ever_closed")
                self._bump_unit(ticket, name, "closed_in_period", periods=flow)

    def reopened(self, ticket_id: str, at: datetime, *, unit: str) -> None:
        ticket, _ = self._pair(ticket_id, unit)
        if ticket is None:
            return
        # the ticket, then every unit it was closed for (`closed`)
        targets = [(ticket, self._bump_ticket_fn(ticket))] + [
            (o, self._bump_unit_fn(ticket, u)) for u, o in ticket["units"].items()]
        for target, bump in targets:
            if not target["closed"]:
                continue  # only a closed ticket can be reopened
            target["closed"] = False
            bump("closed", -1)
            if not target["reopened"]:
                target["reopened"] = True
                bump("reopened", 1)

    def rated(self, ticket_id: str, at: datetime, *, unit: str, rating: str) -> None:
        value = Rating(rating).value
        self._record_verdict(ticket_id, unit, "rating", f"ratings_{value}",
                             VERDICT_POINTS.get(value))

    def callback(self, ticket_id: str, at: datetime, *, unit: str, outcome: str) -> None:
        value = CallbackOutcome(outcome).value
        self._record_verdict(ticket_id, unit, "callback", f"callbacks_{value}",
                             VERDICT_POINTS.get(value))

    # ---- reading ---------------------------------------------------------------------
    @property
    def buckets(self) -> dict[str, dict[str, Any]]:
        """Every bucket by key (`bucket_key`), its counters and histograms."""
        if self._pending or self._pending_slots:
            self._settle()
        return self._buckets

    @buckets.setter
    def buckets(self, buckets: dict[str, dict[str, Any]]) -> None:
        self._pending.clear()
        self._pending_slots.clear()
        self._buckets = buckets

    def bucket(self, dimension: str, value: str, kind: str, period: str) -> dict[str, Any]:
        """The raw counters of one bucket (a fresh empty one when nothing counted there)."""
        return self.buckets.get(bucket_key(dimension, value, kind, period), new_bucket())

    def values(self, dimension: str, kind: str, period: str) -> list[str]:
        """Every value of a dimension that has a bucket in the period, sorted."""
        found = set()
        for key in self.buckets:
            dim, value, k, p = key.split("|")
            if dim == dimension and k == kind and p == period:
                found.add(value)
        return sorted(found)

    @property
    def ticket_count(self) -> int:
        """Tickets received into this model (their state kept here or released)."""
        return len(self.tickets) + self.tickets_released

    def release_tickets(self) -> None:
        """Let go of the per-ticket state, keeping its count (a total that only sums)."""
        self.tickets_released += len(self.tickets)
        self.tickets = {}
        self._keys.clear()

    # ---- state -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical plain-dict state (sorted keys) for PostgreSQL's jsonb."""
        state = {
            "version": STATE_VERSION,
            "unmatched_facts": self.unmatched_facts,
            "tickets": {k: _canonical(self.tickets[k]) for k in sorted(self.tickets)},
            "buckets": {k: _canonical(self.buckets[k]) for k in sorted(self.buckets)},
        }
        if self.tickets_released:
            state["tickets_released"] = self.tickets_released
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> KpiModel:
        if state.get("version") != STATE_VERSION:
            raise KpiStateError(
                f"KPI state version {state.get('version')!r} is not {STATE_VERSION}; "
                "rebuild it from the audit ledger"
            )
        model = cls()
        model.unmatched_facts = int(state["unmatched_facts"])
        model.tickets_released = int(state.get("tickets_released", 0))
        model.tickets = _canonical(state["tickets"])
        model.buckets = _canonical(state["buckets"])
        return model

    def merge(self, other: KpiModel) -> KpiModel:
        """Sum of two models fed with disjoint tickets (e.g. two Kafka partitions)."""
        clash = sorted(set(self.tickets) & set(other.tickets))
        if clash:
            raise KpiStateError(
                f"cannot merge: {len(clash)} ticket(s) appear in both states, e.g. {clash[0]}; "
                "a ticket's facts must all be folded into one model"
            )
        merged = KpiModel.from_dict(self.to_dict())
        merged.unmatched_facts += other.unmatched_facts
        merged.tickets_released += other.tickets_released
        merged.tickets.update(_canonical(other.tickets))
        for key, theirs in other.buckets.items():
            mine = merged.buckets.setdefault(key, new_bucket())
            for name in COUNTERS:
                mine[name] += theirs[name]
            for name in HISTOGRAMS:
                for value, count in theirs[name].items():
                    mine[name][value] = mine[name].get(value, 0) + count
        return KpiModel.from_dict(merged.to_dict())

    def unsettled(self) -> tuple[dict[tuple[str, ...], dict[str, int]],
                                 dict[tuple[str, ...], dict[tuple[str, str], int]]] | None:
        """What was counted and not yet added to buckets, when no bucket was read yet (a
        model fresh from folding): bucket keys -> counter -> delta, and bucket keys ->
        (histogram, slot) -> count. None once buckets were read (`buckets` settles them)."""
        if self._buckets:
            return None
        return self._pending, self._pending_slots

    def counts_to_add(self) -> tuple[dict[tuple[str, ...], dict[str, int]],
                                     dict[tuple[str, ...], dict[tuple[str, str], int]]]:
        """Where a fold outside the model (`fold.fold_ticket`) adds its counts, as the fact
        methods do: bucket keys -> counter -> delta, and bucket keys -> (histogram, slot) ->
        count; they reach the buckets when these are next read (`buckets`)."""
        return self._pending, self._pending_slots

    def take_ticket(self, ticket_id: str, ticket: dict[str, Any] | None,
                    keys: tuple[str, ...] | None, unit_keys: dict[str, tuple[str, ...]],
                    unmatched: int) -> None:
        """The rest of one ticket folded outside the model (`fold.fold_ticket`, a ticket the
        model did not hold): its state (None when never received), its bucket keys and its
        units', its unmatched facts; what the fact methods leave besides the counts."""
        self.unmatched_facts += unmatched
        if ticket is not None:
            self.tickets[ticket_id] = ticket
            self._keys[id(ticket)] = (ticket, keys)  # type: ignore[assignment]
            units = ticket["units"]
            for unit, their_keys in unit_keys.items():
                outcome = units[unit]
                self._keys[id(outcome)] = (outcome, their_keys)

    # ---- internals -------------------------------------------------------------------
    def _ticket(self, ticket_id: str) -> dict[str, Any] | None:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            self.unmatched_facts += 1
        return ticket

    def _pair(self, ticket_id: str, unit: str) -> tuple[Any, dict[str, Any] | None]:
        ticket = self._ticket(ticket_id)
        if ticket is None:
            return None, None
        outcome = ticket["units"].get(unit)
        if outcome is None:
            self.unmatched_facts += 1
        return ticket, outcome

    def _ticket_keys(self, ticket: dict[str, Any],
                     periods: dict[str, str] | None) -> tuple[str, ...]:
        if periods is None:
            known = self._keys.get(id(ticket))
            if known is not None and known[0] is ticket:
                return known[1]
        dims = ticket["dims"]
        keys = _dimension_keys(dims["county"], dims["category"], dims["channel"],
                               tuple((periods or ticket["periods"]).items()))
        if periods is None:
            self._keys[id(ticket)] = (ticket, keys)
        return keys

    def _unit_keys(self, ticket: dict[str, Any], unit: str,
                   periods: dict[str, str] | None) -> tuple[str, ...]:
        if periods is not None:
            return _unit_keys_of(unit, tuple(periods.items()))
        outcome = ticket["units"][unit]
        known = self._keys.get(id(outcome))
        if known is not None and known[0] is outcome:
            return known[1]
        keys = _unit_keys_of(unit, tuple(outcome["periods"].items()))
        self._keys[id(outcome)] = (outcome, keys)
        return keys

    def _add(self, keys: tuple[str, ...], name: str, delta: int) -> None:
        counts = self._pending.get(keys)
        if counts is None:
            self._pending[keys] = {name: delta}
        else:
            counts[name] = counts.get(name, 0) + delta

    def _settle(self) -> None:
        pour(self._buckets, self._pending, self._pending_slots, track=False)
        self._pending.clear()
        self._pending_slots.clear()

    def _bump_ticket(self, ticket: dict[str, Any], name: str, delta: int = 1,
                     periods: dict[str, str] | None = None) -> None:
        self._add(self._ticket_keys(ticket, periods), name, delta)

    def _bump_unit(self, ticket: dict[str, Any], unit: str, name: str, delta: int = 1,
                   periods: dict[str, str] | None = None) -> None:
        self._add(self._unit_keys(ticket, unit, periods), name, delta)

    def _hold(self, ticket: dict[str, Any], unit: str, outcome: dict[str, Any]) -> None:
        if not outcome.get("held"):
            outcome["held"] = True
            self._bump_unit(ticket, unit, "kept")

    def _let_go(self, ticket: dict[str, Any], unit: str, outcome: dict[str, Any]) -> None:
        if outcome.get("held"):
            outcome["held"] = False
            self._bump_unit(ticket, unit, "kept", -1)

    def _bump_both(self, ticket: dict[str, Any], unit: str, name: str) -> None:
        self._bump_ticket(ticket, name)
        self._bump_unit(ticket, unit, name)

    def _bump_ticket_fn(self, ticket: dict[str, Any]) -> Any:
        return lambda name, delta: self._bump_ticket(ticket, name, delta)

    def _bump_unit_fn(self, ticket: dict[str, Any], unit: str) -> Any:
        return lambda name, delta: self._bump_unit(ticket, unit, name, delta)

    def _observe(self, ticket: dict[str, Any], unit: str, histogram: str, value: int) -> None:
        entry = (histogram, str(value))  # str slots: the state goes through JSON unchanged
        pending = self._pending_slots
        for keys in (self._ticket_keys(ticket, None), self._unit_keys(ticket, unit, None)):
            slots = pending.get(keys)
            if slots is None:
                pending[keys] = {entry: 1}
            else:
                slots[entry] = slots.get(entry, 0) + 1

    def _record_verdict(self, ticket_id: str, unit: str, source: str, counter: str,
                        points: int | None) -> None:
        ticket, outcome = self._pair(ticket_id, unit)
        if ticket is None:
            return
        self._verdict(ticket, self._ticket_keys(ticket, None), source, counter, points)
        if outcome is not None:
            self._verdict(outcome, self._unit_keys(ticket, unit, None), source, counter, points)

    def _verdict(self, target: dict[str, Any], keys: tuple[str, ...], source: str, counter: str,
                 points: int | None) -> None:
        self._add(keys, counter, 1)
        if points is None:
            return  # unrated / unreachable: no verdict, and no earlier one is erased
        newly_rated, points_x10 = set_verdict(target, source, points)
        if newly_rated:
            self._add(keys, "rated", 1)
        self._add(keys, "satisfaction_points_x10", points_x10)


def closing_order(units: dict[str, dict[str, Any]], named: str
                  ) -> list[tuple[str, dict[str, Any]]]:
    """The units a close reaches, in order: the one it names (when it is the ticket's), then
    every other unit still holding the ticket, in the order they were first assigned."""
    first = [(named, units[named])] if named else []
    return first + [(u, o) for u, o in units.items() if u != named and o.get("held")]


def set_verdict(target: dict[str, Any], source: str, points: int) -> tuple[bool, int]:
    """Record `points` as `target`'s (a ticket's or a unit's round) `source` verdict (rating or
    callback): (whether it had no verdict before, the change in its satisfaction points x10)."""
    before = verdict_x10(target["rating"], target["callback"])
    target[source] = points
    after = verdict_x10(target["rating"], target["callback"])
    return before is None, after - (before or 0)  # type: ignore[operator]


def _canonical(value: Any) -> Any:
    """Deep copy with sorted dict keys, so equal states compare and serialise equal."""
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
