"""Property test of the assignment lifecycle: random sequences of every command by every actor.

The test keeps its own small model of what the rules allow (written from the brief, not
from the aggregate's code). Each step must succeed exactly when the model allows it, and
be refused with a `DispatchError` otherwise. After every step: the ticket has an owner, and
every bounce-back is followed by a platform decision before anything else happens to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.dispatch.domain.errors import DispatchError
from services.dispatch.domain.ticket_dispatch import TicketDispatch

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
UNITS = ["urban-mgmt", "chengnan", "yingzhou.qinghe"]
unit = st.sampled_from(UNITS)
PLATFORM_DECISIONS = {"Assigned", "Coordinated"}


class DispatchLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = T0
        self.ticket = TicketDispatch.open(ticket_id="t-prop", ticket_code="FY-PROP", at=T0)
        self.events: list[str] = [type(e).__name__ for e in self.ticket.collect_events()]
        self.m: dict[str, Any] = {
            "state": "awaiting_dispatch",
            "assignee": None,
            "lead": None,
            "co": [],
            "no_bounce": set(),
            "pending": None,
            "bounced_by": None,
            "bb_deadline": None,
        }

    # --- the harness: does the aggregate agree with the model? ---

    def attempt(self, allowed: bool, act, effect=None) -> None:
        try:
            act()
        except DispatchError as refused:
            assert not allowed, f"legal step refused: {refused}"
            assert refused.reason
            return
        assert allowed, f"illegal step accepted in model state {self.m}"
        self.events.extend(type(e).__name__ for e in self.ticket.collect_events())
        if effect:
            effect()

    def hand_to(self, to: str, bb_deadline: datetime | None) -> None:
        self.m.update(state="assigned", assignee=to, pending=None, bb_deadline=bb_deadline)

    # --- time ---

    @rule(hours=st.sampled_from([0, 1, 5, 23, 30]))
    def time_passes(self, hours: int) -> None:
        self.clock += timedelta(hours=hours)

    # --- the platform ---

    @rule(to=unit)
    def assign(self, to: str) -> None:
        m = self.m
        allowed = m["state"] in ("awaiting_dispatch", "awaiting_platform_decision")

        def effect() -> None:
            if m["state"] == "awaiting_platform_decision" and to == m["bounced_by"]:
                m["no_bounce"].add(to)
            m.update(lead=None, co=[])
            self.hand_to(to, self.clock + timedelta(hours=24))

        self.attempt(
            allowed,
            lambda: self.ticket.assign(unit=to, by="d", at=self.clock, reason="派单"),
            effect,
        )

    @rule(lead=unit, co=st.lists(unit, max_size=2, unique=True))
    def coordinate(self, lead: str, co: list[str]) -> None:
        m = self.m
        allowed = (
            m["state"]
            in (
                "awaiting_dispatch",
                "awaiting_platform_decision",
                "assigned",
                "signed_for",
                "in_progress",
            )
            and lead not in co
        )

        def effect() -> None:
            m.update(lead=lead, co=list(co))
            m["no_bounce"].update([lead, *co])
            self.hand_to(lead, None)

        self.attempt(
            allowed,
            lambda: self.ticket.coordinate(
                by="d", lead_unit=lead, co_units=co, decision="统筹协调决定", at=self.clock
            ),
            effect,
        )

    def _moved_to(self, to: str) -> None:
        m = self.m
        if m["lead"] == m["assignee"] and m["lead"] is not None:
            m["lead"] = to
            m["co"] = [u for u in m["co"] if u != to]
        m["no_bounce"].add(to)
        self.hand_to(to, None)

    @rule(to=unit)
    def transfer(self, to: str) -> None:
        allowed = (
            self.m["state"] in ("assigned", "signed_for", "in_progress")
            and to != self.m["assignee"]
        )
        self.attempt(
            allowed,
            lambda: self.ticket.transfer(by="d", to_unit=to, reason="改派", at=self.clock),
            lambda: self._moved_to(to),
        )

    @rule()
    def approve_transfer(self) -> None:
        to = self.m["pending"]
        self.attempt(
            to is not None,
            lambda: self.ticket.approve_transfer(by="d", at=self.clock),
            lambda: self._moved_to(to),
        )

    @rule()
    def reject_transfer(self) -> None:
        self.attempt(
            self.m["pending"] is not None,
            lambda: self.ticket.reject_transfer(by="d", reason="不同意", at=self.clock),
            lambda: self.m.update(pending=None),
        )

    @rule()
    def accept_reply(self) -> None:
        self.attempt(
            self.m["state"] == "replied",
            lambda: self.ticket.accept_reply(by="d", at=self.clock),
            lambda: self.m.update(state="reply_accepted"),
        )

    @rule()
    def send_back(self) -> None:
        self.attempt(
            self.m["state"] == "replied",
            lambda: self.ticket.send_back(by="d", reason="答复不完整", at=self.clock),
            lambda: self.m.update(state="in_progress"),
        )

    @rule()
    def close(self) -> None:
        self.attempt(
            self.m["state"] == "reply_accepted",
            lambda: self.ticket.close(by="d", at=self.clock),
            lambda: self.m.update(state="closed"),
        )

    @rule()
    def reopen(self) -> None:
        self.attempt(
            self.m["state"] in ("reply_accepted", "closed"),
            lambda: self.ticket.reopen(by="feedback", reason="不满意", at=self.clock),
            lambda: self.m.update(state="awaiting_dispatch", assignee=None, lead=None, co=[]),
        )

    # --- the units ---

    @rule(u=unit)
    def sign_for(self, u: str) -> None:
        m = self.m
        self.attempt(
            u == m["assignee"] and m["state"] == "assigned",
            lambda: self.ticket.sign_for(unit=u, at=self.clock),
            lambda: m.update(state="signed_for"),
        )

    @rule(u=unit)
    def bounce_back(self, u: str) -> None:
        m = self.m
        allowed = (
            u == m["assignee"]
            and m["state"] == "assigned"
            and u not in m["no_bounce"]
            and m["bb_deadline"] is not None
            and self.clock <= m["bb_deadline"]
        )
        self.attempt(
            allowed,
            lambda: self.ticket.bounce_back(unit=u, reason="非本单位职责", at=self.clock),
            lambda: m.update(state="awaiting_platform_decision", assignee=None, bounced_by=u),
        )

    @rule(u=unit, to=unit)
    def request_transfer(self, u: str, to: str) -> None:
        m = self.m
        allowed = (
            u == m["assignee"]
            and m["state"] in ("signed_for", "in_progress")
            and m["pending"] is None
            and to != u
        )
        self.attempt(
            allowed,
            lambda: self.ticket.request_transfer(
                unit=u, to_unit=to, reason="申请改派", at=self.clock
            ),
            lambda: m.update(pending=to),
        )

    @rule(u=unit)
    def note_progress(self, u: str) -> None:
        m = self.m
        if u in m["co"]:
            allowed = m["state"] in ("assigned", "signed_for", "in_progress")
        else:
            allowed = u == m["assignee"] and m["state"] in ("signed_for", "in_progress")

        def effect() -> None:
            if u == m["assignee"] and m["state"] == "signed_for":
                m["state"] = "in_progress"

        self.attempt(
            allowed, lambda: self.ticket.note_progress(unit=u, note="办理中", at=self.clock), effect
        )

    @rule(u=unit)
    def reply(self, u: str) -> None:
        m = self.m
        self.attempt(
            u == m["assignee"] and m["state"] in ("signed_for", "in_progress"),
            lambda: self.ticket.reply(unit=u, reply="已办理", at=self.clock),
            lambda: m.update(state="replied", pending=None),
        )

    # --- what must always hold ---

    @invariant()
    def never_ownerless_and_agrees_with_the_model(self) -> None:
        t = self.ticket
        assert t.owner
        assert t.state.value == self.m["state"]
        held = self.m["state"] in ("assigned", "signed_for", "in_progress", "replied")
        assert t.owner == (self.m["assignee"] if held else "city")
        if held:
            assert t.assignee

    @invariant()
    def every_bounce_back_ends_in_a_platform_decision(self) -> None:
        for i, name in enumerate(self.events):
            if name == "BouncedBack":
                after = [e for e in self.events[i + 1 :] if e != "Classified"]
                if after:
                    assert after[0] in PLATFORM_DECISIONS, self.events
                else:
                    assert self.ticket.state.value == "awaiting_platform_decision"
                    assert self.ticket.owner == "city"


DispatchLifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, database=None, deadline=None
)
TestDispatchLifecycle = DispatchLifecycle.TestCase
