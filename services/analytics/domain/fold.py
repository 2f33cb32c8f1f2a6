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
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from services.analytics.domain.facts import Fact
from services.analytics.domain.hot_topics import TicketText, place_in
from services.analytics.domain.kpis import COUNTERS, HISTOGRAMS, KpiModel, pour

UNKNOWN_COUNTY = "未知"
UNKNOWN_CATEGORY = "未分类"
UNKNOWN_CHANNEL = "未知"
ASSIGNING = ("assigned", "transferred", "coordinated")


def ticket_dims(ordered: list[Fact]) -> dict[str, str]:
    submitted = next((f for f in ordered if f.kind == "submitted"), None)
    first = next((f for f in ordered if f.kind == "assigned"), None)
    queued = next((f for f in ordered if f.kind == "queued" and f.get("county")), None)
    channel = (submitted.get("channel") if submitted else "") or (
        first.get("channel") if first else "")
    county = (first.get("county") if first else "") or (
        queued.get("county") if queued else "") or (
        submitted.get("county") if submitted else "")
    category = (first.get("category") if first else "") or (
        submitted.get("category_hint") if submitted else "")
    return {"channel": channel or UNKNOWN_CHANNEL, "county": county or UNKNOWN_COUNTY,
            "category": category or UNKNOWN_CATEGORY}


def units_assigned(fact: Fact) -> list[tuple[str, int]]:
    """(unit, assignment number) pairs an assigning fact gives the ticket to."""
    no = int(fact.get("assignment_no", 0) or 0)
    if fact.kind == "coordinated":
        units = [fact.get("lead_unit"), *fact.get("co_units", [])]
        return [(u, no) for u in units if u]
    unit = fact.get("unit")
    return [(unit, no)] if unit else []


def _settled_clocks(ordered: list[Fact]) -> set[int]:
    """Clock numbers that sla settled as met."""
    met: set[int] = set()
    reopens = 0
    for f in ordered:
        if f.kind == "reopened":
            reopens += 1
        elif f.kind == "deadline_met":
            met.add(int(f.get("clock_no", 0) or 0) or reopens + 1)
    return met


def _sent_back_replies(ordered: list[Fact]) -> set[str]:
    """Event ids of replies the platform's review sent back to the unit."""
    last_reply: dict[str, str] = {}
    sent_back: set[str] = set()
    for f in ordered:
        if f.kind == "replied":
            last_reply[f.get("unit")] = f.event_id
        elif f.kind == "reply_reviewed" and f.get("unit") in last_reply:
            reply = last_reply.pop(f.get("unit"))
            if not f.get("accepted", True):
                sent_back.add(reply)
    return sent_back


def fold_ticket(facts: Iterable[Fact], model: KpiModel | None = None) -> KpiModel:
    """Fold one ticket's facts into `model` (a fresh one when None)."""
    model = model if model is not None else KpiModel()
    ordered = sorted(facts, key=Fact.sort_key)
    dims = ticket_dims(ordered)
    met, sent_back = _settled_clocks(ordered), _sent_back_replies(ordered)
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
    return model


def _since(assigned_at: dict[str, datetime], unit: str, at: datetime) -> timedelta:
    start = assigned_at.get(unit)
    return max(at - start, timedelta(0)) if start else timedelta(0)


def add_into(total: KpiModel, part: KpiModel, sign: int) -> None:
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
        _add_buckets(total, part.buckets, sign)
        return
    pending, pending_slots = unsettled
    buckets = total.buckets
    _drop_emptied(buckets, pour(buckets, pending, pending_slots, sign))


def replace_part(total: KpiModel, old: KpiModel | None, new: KpiModel) -> None:
    """total += new - old: a ticket refolded with more facts. Where both parts are fresh from
    `fold_ticket`, only their difference is poured (bucket keys -> counter -> change, zero
    changes left out): a new fact changes a few counters of a ticket's ~20 buckets, and taking
    the old part out bucket by bucket and adding the new one back walked every counter of
    both (the pour was a seventh of analytics' CPU under load, py-spy, session 13)."""
    theirs, mine = (old.unsettled() if old is not None else ({}, {})), new.unsettled()
    if theirs is None or mine is None:
        if old is not None:
            add_into(total, old, -1)
        add_into(total, new, +1)
        return
    total.unmatched_facts += new.unmatched_facts - (old.unmatched_facts if old is not None else 0)
    total.tickets_released += new.ticket_count - (old.ticket_count if old is not None else 0)
    buckets = total.buckets
    _drop_emptied(buckets, pour(buckets, _difference(mine[0], theirs[0]),
                                _difference(mine[1], theirs[1])))


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


def _add_buckets(total: KpiModel, theirs_by_key: dict[str, dict[str, Any]], sign: int) -> None:
    for key, theirs in theirs_by_key.items():
        mine = total.buckets.get(key)
        if mine is None:
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
    an emptied bucket is as if it never existed."""
    for key in keys:
        bucket = buckets[key]
        if not any(bucket[n] for n in COUNTERS) and not any(bucket[h] for h in HISTOGRAMS):
            del buckets[key]


class LiveKpis:
    """The KPI model kept up to date fact by fact; thread-safe (one lock).

    Memory does not grow with the history when `tickets_kept` is set: the facts of the
    tickets refolded most recently are kept (`facts`, at most `tickets_kept` tickets after
    each batch, least recently refolded out first) and the total keeps buckets and counts
    only. A fact of a ticket whose facts are not in memory comes with the ticket's facts
    folded before it (`apply`'s `earlier`, read back from the facts table by the tail), which
    give the ticket's old contribution. Nothing is kept of a ticket let go, not even its id.
    Without `tickets_kept` (a rebuild, a test) every fact stays in memory."""

    PARTS_KEPT = 2048  # tickets whose last fold is kept (~4 KB each: ~8.5 MB at most)

    def __init__(self, tickets_kept: int | None = None) -> None:
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

    @classmethod
    def of_tickets(cls, tickets: dict[str, dict[str, Fact]]) -> LiveKpis:
        """The state of these facts (ticket id -> event id -> fact), each ticket folded once
        straight into the total: what `apply` gives for the same facts in any order and
        batches (the total is a sum over tickets, and an emptied bucket is dropped)."""
        kpis = cls()
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
        model.release_tickets()  # as the live total: buckets and counts only
        kpis.facts = OrderedDict(tickets)
        kpis.latest = latest
        drop_empty_buckets(model)
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
        replace_part(self.model, old, part)
        self._parts[ticket_id] = part
        if len(self._parts) > self.PARTS_KEPT:
            self._parts.popitem(last=False)
        return len(fresh)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return self.model.to_dict()


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
