"""Reopened tickets (重办) driven by the simulator through the public interfaces only.

A simulated day in which a few tickets are planned "dissatisfied, and the callback confirms it
unresolved": feedback reopens them, dispatch hands them to the unit again under the same code,
the unit's system (StreamAssignments: a higher assignment number) signs for and replies again,
the citizen rates the new reply (a new link: reply round 2) and the ticket closes. The audit
ledger must show both rounds under ONE code.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import date, datetime, timedelta

import pytest

from backbone import events
from bench import platform as isolated
from tests.e2e.platform_harness import eventually
from tools.simulator.behaviour import round_of
from tools.simulator.drive.driver import CHINA, Waits
from tools.simulator.drive.run import RunOptions, drive, make_plan
from tools.simulator.model import SimAction
from tools.simulator.scenarios import plant_reopens

pytestmark = pytest.mark.e2e
PLANTED = 4
# The planted stories (two rounds of up to five working days each, across a long holiday at
# worst) must lie wholly in the past for the driver to do them: the day starts this long ago.
# tests/unit/simulator/test_scenarios.py sweeps the start over months of days.
LEAD_DAYS = 35


def reopen_start(today: date | None = None) -> date:
    return (today or datetime.now(CHINA).date()) - timedelta(days=LEAD_DAYS)


@pytest.fixture(scope="module")
def driven(running):
    # No re-planning: the planted story stays as planned whoever dispatch routes it to.
    options = RunOptions(days=1, per_day=14, seed=41, start=reopen_start(),
                         concurrency=16, episodes=False, replan=False, progress=False,
                         waits=Waits(assignment=120, dispatcher_after=8, notice=120))
    plan = make_plan(options)
    chosen = plant_reopens(plan, PLANTED)
    assert len(chosen) == PLANTED, "the day has too few tickets to plant reopens on"
    by_ticket: dict[str, list[SimAction]] = {}
    for a in plan.actions:
        by_ticket.setdefault(a.ticket, []).append(a)
    now = datetime.now(CHINA).replace(tzinfo=None)
    assert all(a.at <= now for t in chosen for a in by_ticket[t]), "planted story runs past now"
    tally = asyncio.run(drive(plan, isolated.endpoints(running), options))
    return plan, chosen, tally


def history(running, code: str) -> list[events.DecodedEvent]:
    with running.client("audit", "auditor", sub="e2e-reopen-auditor") as c:
        r = c.get(f"/v1/tickets/{code}/history")
        assert r.status_code == 200, r.text
        return [events.decode(base64.b64decode(e["raw"])) for e in r.json()["entries"]]


def test_planted_tickets_are_reopened_and_handled_again_without_errors(driven):
    _, _, tally = driven
    summary = tally.render_summary()
    assert not tally.errors, summary
    merged = tally.done["ended:merged_into_case"]
    assert tally.done["reopened"] >= PLANTED - merged >= 2, summary
    assert tally.done["round2:replied"] == tally.done["reopened"], summary
    assert tally.done["round2:rated"] == tally.done["reopened"], summary
    assert tally.done["round2:signed_for"] == tally.done["reopened"], summary


def test_the_ledger_shows_two_rounds_under_one_code(driven, running):
    codes = reopened_codes(running)
    assert len(codes) >= 2

    for code in codes:
        def closed_in_round_2(code=code):
            evs = history(running, code)
            done = [d for d in evs if d.event_type == "TicketClosed"
                    and d.payload.reply_round == 2]
            return evs if done else None

        evs = eventually(closed_in_round_2, timeout=120, interval=1,
                         what=f"{code} closed after its second round")
        types = [d.event_type for d in evs]
        assert {d.envelope.ticket_code for d in evs} == {code}, types   # one code
        assert len({d.ticket_id for d in evs}) == 1, types               # one ticket
        assert types.count("TicketReopened") == 1, types
        assert types.count("AssignmentReplied") == 2, types
        assert types.count("AssignmentSignedFor") >= 2, types
        notified = [d.payload.reply_round for d in evs if d.event_type == "CitizenNotified"]
        assert notified == [1, 2], types
        rated = [(d.payload.reply_round, d.payload.rating) for d in evs
                 if d.event_type == "TicketRated"]
        assert rated == [(1, "dissatisfied"), (2, "satisfied")], rated
        assigned = [d.payload.assignment_no for d in evs if d.event_type == "TicketAssigned"]
        assert len(assigned) >= 2 and assigned == sorted(assigned), assigned
        # the second reply came after the reopen, and the reopen after the first reply
        assert types.index("TicketReopened") < len(types) - 1 - types[::-1].index(
            "AssignmentReplied")
        assert types.index("AssignmentReplied") < types.index("TicketReopened")


def reopened_codes(running) -> list[str]:
    """The codes of the tickets feedback reopened (only the planted ones: see `driven`)."""
    found: list[str] = []
    after = 0
    with running.client("audit", "auditor", sub="e2e-reopen-auditor") as c:
        while True:
            body = c.get("/v1/ledger/entries", params={"after": after, "limit": 1000}).json()
            for e in body["entries"]:
                d = events.decode(base64.b64decode(e["raw"]))
                if d.event_type == "TicketReopened" and d.envelope.ticket_code not in found:
                    found.append(d.envelope.ticket_code)
            if not body["entries"]:
                return found
            after = body["next_after"]


def test_round_numbers_of_the_plan(driven):
    plan, chosen, _ = driven
    for t in chosen:
        rounds = [round_of(a.step) for a in plan.actions if a.ticket == t]
        assert rounds[0] == 1 and max(rounds) == 2
