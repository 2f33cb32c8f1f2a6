"""The driver: each plan action done through a public interface, by whoever really acts.

Channel adapters submit to intake; the unit that ACTUALLY holds the assignment (as its
StreamAssignments told it) signs for, bounces back, notes, asks for an extension and replies
over gRPC; the platform's dispatchers decide over the console; citizens rate with the one-time
link from their notice; staff record callbacks. Every command states its simulated time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tools.simulator import model as kinds
from tools.simulator.behaviour import round_of
from tools.simulator.drive.console import DispatcherConsole
from tools.simulator.drive.dispatch import AssignmentBoard, DepartmentSystems, Holding
from tools.simulator.drive.dispute import DisputeRoles
from tools.simulator.drive.errors import ActionError, TicketGaveUpError
from tools.simulator.drive.feedback import Feedback, NoticeBoard
from tools.simulator.drive.intake import IntakeAdapters
from tools.simulator.drive.replan import REPLANNED_STEP, replan_tail
from tools.simulator.drive.scheduler import LiveScheduler, Scheduler
from tools.simulator.drive.tally import Tally
from tools.simulator.drive.units import UnitMap
from tools.simulator.model import SimAction, TicketTruth

CHINA = timezone(timedelta(hours=8), "CST")
DESK_DELAY = timedelta(minutes=5)  # simulated time a dispatcher takes over a queued ticket
EPISODES_KEPT_AS_SCRIPTED = ("episode.jurisdiction_dispute",)
# What dispatch says when our view of the holder is a moment stale (a merge or a re-assignment
# crossed our call): look again once.
STALE_HOLDER = ("dispatch:PERMISSION_DENIED", "dispatch:NOT_FOUND", "dispatch:FAILED_PRECONDITION")


def stated(at: datetime) -> datetime:
    """Plan times are Fuyang wall-clock times; the services want them with their zone."""
    return at if at.tzinfo else at.replace(tzinfo=CHINA)


@dataclass
class TicketState:
    code: str
    ticket_id: str
    ticket: str                 # the simulator's own request id
    last_at: datetime           # stated time of the ticket's latest action
    floor: int = 0              # the next unit action waits for an assignment above this number
    holder: Holding | None = None
    replanned: bool = False
    reopens: int = 0            # reopens (重办) feedback confirmed for this ticket so far


@dataclass(frozen=True)
class Waits:
    """How long (wall seconds) to wait for the platform before acting or giving up."""

    assignment: float = 20.0    # for a ticket's (next) assignment to reach its unit
    dispatcher_after: float = 10.0  # unassigned this long (and the desk did not route it):
    #                                 assign it by hand
    merge_check: float = 3.0    # while it waits for an assignment, this often (after the first
    #                             such while) ask intake whether the ticket was merged instead
    notice: float = 20.0        # for the citizen's rating link
    stale: float = 1.0          # before looking again at a holder dispatch disowned


DEFAULT_WAITS = Waits()


class Driver:
    def __init__(self, *, intake: IntakeAdapters, systems: DepartmentSystems, board: AssignmentBoard,
                 console: DispatcherConsole, feedback: Feedback, notices: NoticeBoard,
                 units: UnitMap, truths: dict[str, TicketTruth], seed: int, tally: Tally,
                 waits: Waits = DEFAULT_WAITS, replan: bool = True):
        self.intake, self.systems, self.board = intake, systems, board
        self.console, self.feedback, self.notices = console, feedback, notices
        self.units, self.truths, self.seed, self.tally = units, truths, seed, tally
        self.waits, self.replan = waits, replan
        # Told of every action the platform took (the fault tests' load keeps a record).
        self.on_acted: Callable[[SimAction, str], None] | None = None
        self.tickets: dict[str, TicketState] = {}
        self.dispute = DisputeRoles(units)
        self.by_id: dict[str, TicketState] = {}
        self.live = False  # a live stream states "now"; a planned period its own times
        self.scheduler: Scheduler | LiveScheduler | None = None
        self.until: datetime | None = None  # re-planned actions after this are not done
        # When a command happens: the plan's time (event time), or now for a live stream.
        self.time_of: Callable[[SimAction], datetime] = lambda action: stated(action.at)
        self.handlers: dict[str, Callable[[SimAction], Awaitable[None]]] = {
            kinds.SUBMIT: self.submit, kinds.SIGN_FOR: self.sign_for,
            kinds.BOUNCE_BACK: self.bounce_back, kinds.DECIDE: self.decide, kinds.NOTE: self.note,
            kinds.ASK_EXTENSION: self.ask_extension, kinds.REPLY: self.reply,
            kinds.RATE: self.rate, kinds.CALLBACK: self.callback,
        }

    async def act(self, action: SimAction) -> None:
        state = self.tickets.get(action.ticket)
        if state is not None and state.replanned and action.step < REPLANNED_STEP:
            self.tally.count("replaced_by_replan")
            return
        if state is not None and state.reopens < round_of(action.step) - 1:
            # The plan reopened this ticket, the platform did not (the citizen's callback went
            # otherwise): the round that would follow has nothing to act on.
            raise TicketGaveUpError("not_reopened", f"round {round_of(action.step)}", expected=True)
        await self.handlers[action.kind](action)
        state = self.tickets.get(action.ticket)
        if state is not None:
            state.last_at = max(state.last_at, self.time_of(action))

    # -- for the dispatch desk ---------------------------------------------------------------
    def planned_unit_of(self, ticket_id: str) -> str | None:
        state = self.by_id.get(ticket_id)
        return self._planned_unit(state.ticket) if state else None

    def desk_time(self, ticket_id: str) -> datetime | None:
        """When the desk acts on a ticket: now in a live stream, else a few simulated minutes
        after the ticket's latest step (the queue holds only tickets this run submitted)."""
        state = self.by_id.get(ticket_id)
        if state is None:
            return None
        return datetime.now(CHINA) if self.live else state.last_at + DESK_DELAY

    def _did(self, action: SimAction, what: str) -> None:
        self.tally.count(what)
        if round_of(action.step) > 1:  # done again after a reopen: counted per round too
            self.tally.count(f"round{round_of(action.step)}:{what}")
        if self.on_acted is not None:
            self.on_acted(action, what)

    def _state(self, action: SimAction) -> TicketState:
        state = self.tickets.get(action.ticket)
        if state is None:
            raise TicketGaveUpError("not_submitted", "the ticket's submission failed")
        return state

    def _request_id(self, action: SimAction) -> str:
        return f"{action.ticket}:{action.step}"

    # -- channel adapters ------------------------------------------------------------------
    async def submit(self, action: SimAction) -> None:
        result = await self.intake.submit(action.payload, at=self.time_of(action))
        state = TicketState(result.code, result.ticket_id, action.ticket, self.time_of(action))
        self.tickets[action.ticket] = state
        self.by_id[result.ticket_id] = state
        self.tally.count("submitted")
        if len(self.tally.sample_codes) < 5:
            self.tally.sample_codes.append(result.code)
        if result.status == "rejected":
            self._did(action, "rejected")
            raise TicketGaveUpError("rejected", result.rejection or "", expected=True)
        self._did(action, "accepted")

    # -- department systems ----------------------------------------------------------------
    def _planned_unit(self, ticket: str) -> str | None:
        """Where a dispatcher routes the ticket by hand: the unit the plan meant (for the
        jurisdiction dispute, the first disputant: see dispute.py)."""
        truth = self.truths.get(ticket)
        if truth is None:
            return None
        if self.dispute.plays(truth) and not self.dispute.bounced.get(ticket):
            return self.dispute.first_receiver()
        return self.units.registry_code(truth.handling_unit)

    async def _holder(self, action: SimAction) -> Holding | None:
        """The unit holding the ticket now; None when the ticket was re-planned instead."""
        state = self._state(action)
        held = await self._assignment_unless_merged(state, self.waits.dispatcher_after)
        if held is None:
            planned = self._planned_unit(action.ticket)
            if planned:  # still unassigned: a dispatcher routes it, as for the unrouted queue
                try:
                    await self.console.assign(state.ticket_id, planned, "平台人工派单",
                                              at=self.time_of(action))
                    self.tally.count("dispatcher_assigned")
                except ActionError as exc:
                    if "merged" in exc.detail:
                        raise TicketGaveUpError("merged_into_case", exc.detail, expected=True) from exc
                    if exc.kind != "console:409":  # 409: assigned meanwhile (by the desk or dispatch)
                        self.tally.error(f"manual_assign:{exc.kind}", exc.detail)
            held = await self._assignment_unless_merged(state, self.waits.assignment)
        if held is None:
            raise TicketGaveUpError("not_assigned", f"no assignment above no. {state.floor} arrived")
        if held.status == "withdrawn":  # a duplicate merged into a case: its primary is handled
            raise TicketGaveUpError("merged_into_case", held.ticket_code, expected=True)
        if state.holder is None:
            self.tally.count("assigned")
        state.holder = held
        if self._should_replan(action, held):
            self._replan(action, held)
            return None
        return held

    async def _assignment_unless_merged(self, state: TicketState, timeout: float) -> Holding | None:
        """The ticket's next assignment (above ``state.floor``) within ``timeout``, or None.
        A ticket merged into a case before dispatch routed it is never assigned: every
        ``merge_check`` seconds without an assignment intake is asked, and a merged ticket is
        given up at once (TicketGaveUpError) instead of holding its action for the whole wait
        (a dispatcher's assignment would then be refused as merged, after ``dispatcher_after``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            held = await self.board.wait_for(state.ticket_id, newer_than=state.floor,
                                             timeout=max(0.0, min(left, self.waits.merge_check)))
            if held is not None or left <= self.waits.merge_check:
                return held
            if await self.intake.merged(state.code):
                raise TicketGaveUpError("merged_into_case", state.code, expected=True)

    def _should_replan(self, action: SimAction, held: Holding) -> bool:
        truth = self.truths.get(action.ticket)
        if not self.replan or truth is None or action.step >= REPLANNED_STEP:
            return False
        if truth.episode in EPISODES_KEPT_AS_SCRIPTED or truth.bounced:
            return False  # scripted bounce-backs and decisions must stay as planned
        return held.unit != self._planned_unit(action.ticket)

    def _replan(self, action: SimAction, held: Holding) -> None:
        truth = self.truths[action.ticket]
        actual = self.units.to_sim.get(held.unit, held.unit)
        tail = replan_tail(truth, actual, seed=self.seed, after=action.at)
        if self.until is not None:
            tail = [a for a in tail if a.at <= self.until]
        self.tickets[action.ticket].replanned = True
        self.tally.count("routing_miss")
        if self.scheduler is not None:
            forgotten = self.scheduler.replace_rest_of(action.ticket, tail)
            self.tally.total += len(tail) - forgotten

    async def _as_holder(self, action: SimAction, do: Callable[[Holding], Awaitable[object]]) -> bool:
        """Do ``do`` as the unit holding the ticket; False when the ticket was re-planned."""
        for attempt in range(2):
            held = await self._holder(action)
            if held is None:
                return False
            try:
                await do(held)
                return True
            except ActionError as exc:
                if attempt or exc.kind not in STALE_HOLDER:
                    raise
                await asyncio.sleep(self.waits.stale)
        return False

    async def sign_for(self, action: SimAction) -> None:
        if await self._as_holder(action, lambda held: self.systems.sign_for(
                held.unit, held.ticket_id, at=self.time_of(action), request_id=self._request_id(action))):
            self._did(action, "signed_for")

    async def bounce_back(self, action: SimAction) -> None:
        truth = self.truths.get(action.ticket)

        async def bounce(held: Holding) -> None:
            reason = action.payload["reason"]
            if self.dispute.plays(truth):
                assert truth is not None
                reason = self.dispute.reason(truth, held.unit, reason)
            await self.systems.bounce_back(held.unit, held.ticket_id, reason,
                                           at=self.time_of(action), request_id=self._request_id(action))
            self._state(action).floor = held.assignment_no
            if self.dispute.plays(truth):
                self.dispute.note_bounce(action.ticket, held.unit)

        if await self._as_holder(action, bounce):
            self._did(action, "bounced_back")

    async def note(self, action: SimAction) -> None:
        if await self._as_holder(action, lambda held: self.systems.add_note(
                held.unit, held.ticket_id, action.payload["text"], at=self.time_of(action),
                request_id=self._request_id(action))):
            self._did(action, "noted")

    async def ask_extension(self, action: SimAction) -> None:
        if await self._as_holder(action, lambda held: self.systems.request_extension(
                held.unit, held.ticket_id, int(action.payload["days"]), action.payload["reason"],
                at=self.time_of(action), request_id=self._request_id(action))):
            self._did(action, "extension_asked")

    async def reply(self, action: SimAction) -> None:
        async def reply(held: Holding) -> None:
            await self.systems.reply(held.unit, held.ticket_id, action.payload["text"],
                                     action.payload["outcome"], at=self.time_of(action),
                                     request_id=self._request_id(action))
            # A reopen hands the ticket over again: the next round waits for a newer number.
            self._state(action).floor = held.assignment_no

        if await self._as_holder(action, reply):
            self._did(action, "replied")

    # -- the platform's dispatchers ---------------------------------------------------------
    def _registry(self, sim_unit: str) -> str:
        return self.units.registry_code(sim_unit) or sim_unit

    async def decide(self, action: SimAction) -> None:
        state = self._state(action)
        decision = action.payload
        try:
            if decision["decision"] == "coordinate":
                lead = self._registry(decision["lead"])
                co_units = [u for u in dict.fromkeys(self._registry(c) for c in decision["co_handling"])
                            if u != lead]
                await self.console.coordinate(state.ticket_id, lead, co_units, decision["text"],
                                              at=self.time_of(action))
            else:
                unit, text = self._registry(decision["unit"]), decision["text"]
                if self.dispute.plays(self.truths.get(action.ticket)):
                    unit, text = self.dispute.reassign_to(action.ticket, unit, text)
                await self.console.assign(state.ticket_id, unit, text, at=self.time_of(action))
        except ActionError as exc:
            if "merged" in exc.detail:
                raise TicketGaveUpError("merged_into_case", exc.detail, expected=True) from exc
            raise
        self._did(action, "decided")

    # -- citizens and callback staff --------------------------------------------------------
    async def rate(self, action: SimAction) -> None:
        state = self._state(action)
        notice = await self.notices.wait_for(state.ticket_id, timeout=self.waits.notice,
                                             reply_round=round_of(action.step))
        if notice is None:
            raise ActionError("feedback:no_rating_link",
                              f"no notice of reply round {round_of(action.step)} arrived")
        await self.feedback.rate_by_link(notice, action.payload["rating"], action.payload.get("comment"),
                                         at=self.time_of(action))
        self._did(action, "rated")

    async def callback(self, action: SimAction) -> None:
        state = self._state(action)
        reply_round = round_of(action.step)
        # the call is about the reply the citizen got: wait until feedback has delivered it
        # (its notice), also in round 1; a callback that raced ahead of the reply was refused
        # 409 (seen once in CI once the notifier delivered faster)
        delivered = await self.notices.wait_for(state.ticket_id, timeout=self.waits.notice,
                                                reply_round=reply_round)
        if delivered is None and reply_round > 1:
            raise ActionError("feedback:no_reply_delivered",
                              f"reply round {reply_round} never reached the citizen")
        answer = await self.feedback.record_callback(
            state.code, reached=bool(action.payload["reached"]), rating=action.payload.get("rating"),
            resolved=action.payload.get("resolved"), at=self.time_of(action),
            request_id=self._request_id(action))
        self._did(action, "called_back")
        reopens = int(answer.get("reopen_count") or 0)
        if reopens > state.reopens:  # 重办: dispatch hands it to the unit again, same code
            state.reopens = reopens
            self._did(action, "reopened")
