"""Commands of department systems (gRPC) and dispatchers (HTTP): get -> check -> act -> save.

Free text (notes, replies, reasons, decisions) is masked before it enters an event: a unit
may paste a citizen's phone number into a note, and nothing personal leaves intake.
A command that loses a race with another change of the same ticket is re-run on the fresh
state; a department system's retry with the same `request_id` gets the first result back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from eventsourcing.persistence import IntegrityError

from backbone.group_commit import GroupCommitter
from backbone.privacy import echo, mask_personal_data
from backbone.store import EventContext, Statement
from backbone.ticket_codes import spelled_code
from services.dispatch.adapters.loop_reads import LoopReads, RequestKey
from services.dispatch.adapters.readmodel import ReadModel
from services.dispatch.application.app import DispatchApplication, UnitRequest
from services.dispatch.application.projection import holders
from services.dispatch.application.routing import Router
from services.dispatch.application.units import UnitBook
from services.dispatch.domain.classifier import ClassificationError, Label
from services.dispatch.domain.lifecycle import DispatchPolicy
from services.dispatch.domain.taxonomy import UnknownCategoryError
from services.dispatch.domain.ticket_dispatch import TicketDispatch
from services.sla.domain.policy import load_policy as load_sla_policy

ATTEMPTS = 4
MAX_REF = 64  # a ticket code is 17 characters, a ticket id 36


class TicketNotFoundError(LookupError):
    pass


class BadRequestError(ValueError):
    """Arguments wrong whatever the ticket's state (INVALID_ARGUMENT / 400)."""


_sla_policy = cache(load_sla_policy)


def check_reply_limit(urgency: str, working_days: int | None) -> None:
    """A reply limit set by the platform: only for the long-handling grades (complex), within
    the SLA policy's range (sla counts the deadline; docs/sla.md)."""
    if working_days is None:
        return
    policy = _sla_policy()
    if not policy.is_long_handling(urgency):
        raise BadRequestError(f"the platform sets no reply limit of its own for a {urgency} "
                              "ticket (only for: " + ", ".join(sorted(policy.long_grades)) + ")")
    low, high = policy.explanation_working_days, policy.long_max_working_days
    if not low <= working_days <= high:
        raise BadRequestError(f"a {urgency} ticket's reply limit is {low}..{high} working days, "
                              f"not {working_days}")


class ConcurrentChangeError(RuntimeError):
    pass


@dataclass(frozen=True)
class TicketRef:
    code: str = ""
    ticket_id: str = ""

    def __post_init__(self) -> None:
        # a code as it is typed ("fy-261204-00009-d", no hyphens) names the ticket intake wrote
        if self.code and len(self.code) <= MAX_REF:
            object.__setattr__(self, "code", spelled_code(self.code) or self.code)

    def check(self) -> None:
        if not self.code.strip() and not self.ticket_id.strip():
            raise BadRequestError("name the ticket by ticket_code or ticket_id")
        if len(self.code) > MAX_REF or len(self.ticket_id) > MAX_REF:
            # refused before it is echoed: a 100,000-character "code" came back in the
            # NOT_FOUND reason, past gRPC's metadata limit (RESOURCE_EXHAUSTED, no reason)
            raise BadRequestError(f"a ticket code or id is at most {MAX_REF} characters")

    def __str__(self) -> str:
        """As an error names it: a code or id as given, anything else not repeated (a phone
        number typed for a code came back in the 404)."""
        return echo(self.code or self.ticket_id)


@dataclass(frozen=True)
class Ack:
    ticket_id: str
    ticket_code: str
    status: str
    assignment_no: int
    replayed: bool = False


def masked(text: str) -> str:
    return mask_personal_data(text.strip()) if text else ""


class Commands:
    def __init__(self, *, app: DispatchApplication, committer: GroupCommitter,
                 readmodel: ReadModel, reads: LoopReads, units: UnitBook, router: Router, policy: DispatchPolicy,
                 auto_accept_replies: bool) -> None:
        self.app = app
        self.committer = committer
        self.readmodel = readmodel
        self.reads = reads
        self.units = units
        self.router = router
        self.policy = policy
        self.auto_accept_replies = auto_accept_replies

    # --- department systems: a unit acts on its own assignments only ---

    async def sign_for(self, unit: str, ref: TicketRef, *, at: datetime, ctx: EventContext,
                 request_id: str = "") -> Ack:
        return await self._as_unit(unit, ref, "SignFor", request_id, ctx,
                             lambda d: d.sign_for(unit=unit, at=at))

    async def bounce_back(self, unit: str, ref: TicketRef, *, reason: str, at: datetime,
                    ctx: EventContext, request_id: str = "") -> Ack:
        return await self._as_unit(unit, ref, "BounceBack", request_id, ctx,
                             lambda d: d.bounce_back(unit=unit, reason=masked(reason), at=at))

    async def add_note(self, unit: str, ref: TicketRef, *, note: str, at: datetime,
                 ctx: EventContext, request_id: str = "") -> Ack:
        return await self._as_unit(unit, ref, "AddNote", request_id, ctx,
                             lambda d: d.note_progress(unit=unit, note=masked(note), at=at))

    async def reply(self, unit: str, ref: TicketRef, *, reply: str, outcome: str, at: datetime,
              ctx: EventContext, request_id: str = "", expected_by: date | None = None) -> Ack:
        def act(d: TicketDispatch) -> None:
            d.reply(unit=unit, reply=masked(reply), outcome=outcome or "resolved", at=at,
                    expected_by=expected_by)
            if self.auto_accept_replies:  # MINSHENG_AUTO_ACCEPT_REPLIES: the platform's review
                d.accept_reply(by="auto", at=at, comment="auto-review policy")
                if d.answered:  # an interim (needs_longer) answer leaves it with the unit
                    d.close(by="auto", at=at)

        return await self._as_unit(unit, ref, "Reply", request_id, ctx, act)

    async def request_extension(self, unit: str, ref: TicketRef, *, working_days: int, reason: str,
                          at: datetime, ctx: EventContext, request_id: str = "") -> Ack:
        return await self._as_unit(unit, ref, "RequestExtension", request_id, ctx,
                             lambda d: d.request_extension(unit=unit, working_days=working_days,
                                                           reason=masked(reason), at=at))

    async def request_transfer(self, unit: str, ref: TicketRef, *, to_unit: str, reason: str,
                         at: datetime, ctx: EventContext, request_id: str = "") -> Ack:
        self.units.check_assignable(to_unit)
        return await self._as_unit(unit, ref, "RequestTransfer", request_id, ctx,
                             lambda d: d.request_transfer(unit=unit, to_unit=to_unit,
                                                          reason=masked(reason), at=at))

    async def _as_unit(self, unit: str, ref: TicketRef, method: str, request_id: str,
                       ctx: EventContext, act: Callable[[TicketDispatch], None]) -> Ack:
        ref.check()
        key_id = UnitRequest.create_id(unit, request_id) if request_id else None
        held = self.reads.take(code=ref.code.strip(), ticket_id=ref.ticket_id.strip())
        if held is not None and unit in holders(held):
            ack = await self._on_held(held, unit, method, request_id, key_id, ctx, act)
            if ack is not None:
                return ack
        elif held is not None:
            self.reads.keep(held)
        for _ in range(ATTEMPTS):
            # the key, the ticket, the unit's assignment of it and its events: one round trip
            loaded = await self.reads.load(code=ref.code.strip(),
                                           ticket_id=ref.ticket_id.strip(), unit=unit,
                                           key_id=key_id)
            if loaded.key is not None:
                return self._replay(loaded.key, method, ref)
            d: TicketDispatch | None = loaded.dispatch
            if d is None:
                # The same answer whether the ticket exists or not: no probing other units' work.
                raise TicketNotFoundError(f"unit {unit} has no assignment of ticket {ref}")
            act(d)
            ack = self._ack(d, unit)
            try:
                await self._save(d, ctx, self._key(key_id, unit, request_id, method, d, ack))
            except IntegrityError:
                continue  # a racing change or retry: read again (a stored key is replayed)
            self.reads.keep(d)  # as committed: the next command on it reads only what is new
            return ack
        raise ConcurrentChangeError(f"ticket {ref} kept changing; try again")

    async def _on_held(self, d: TicketDispatch, unit: str, method: str, request_id: str,
                       key_id: uuid.UUID | None, ctx: EventContext,
                       act: Callable[[TicketDispatch], None]) -> Ack | None:
        """The command on the dispatch this process holds as last committed, without a read
        (the common case: the consumer's or the last command's save left it here): the save
        itself checks what the read would have. It commits only if no event was stored
        after the held version (the next version's key), and the request key only if the
        request id is new (its key, or an older UnitRequest's events, clash), so it acts on
        the state the store has, exactly as after a read. The unit holds or co-handles the
        ticket in that state, so its assignment row exists: the read's authorisation.
        Anything else (the act refused, the save lost a race or met the key) answers None,
        and the command reads as before: a refusal, a replay or a retry decides there on
        the store's state."""
        try:
            act(d)
        except Exception:
            return None  # the held object may be half-changed: dropped, never kept
        ack = self._ack(d, unit)
        try:
            await self._save(d, ctx, self._key(key_id, unit, request_id, method, d, ack))
        except IntegrityError:
            return None
        self.reads.keep(d)
        return ack

    async def _saved_on_held(self, d: TicketDispatch, ctx: EventContext,
                             act: Callable[[TicketDispatch], None]) -> bool:
        """A dispatcher's command on the held dispatch, as `_on_held` (no key, no unit)."""
        try:
            act(d)
        except Exception:
            return False  # refused here: decided again on a fresh read
        try:
            await self._save(d, ctx)
        except IntegrityError:
            return False  # a racing change: read again
        self.reads.keep(d)
        return True

    async def _save(self, d: TicketDispatch, ctx: EventContext,
                    sql: list[Statement] | None = None) -> None:
        """Through the group commit; the command keeps `d` itself (`reads.keep`), so the
        application does not hand it over as the consumer's."""
        self.app.commanded.add(d.id)
        try:
            await self.committer.save_async(d, context=self._ctx(ctx, d), sql=sql)
        finally:
            self.app.commanded.discard(d.id)

    def _ack(self, d: TicketDispatch, unit: str) -> Ack:
        return Ack(d.ticket_id, d.ticket_code, self._unit_status(d, unit), d.assignment_no)

    def _key(self, key_id: uuid.UUID | None, unit: str, request_id: str, method: str,
             d: TicketDispatch, ack: Ack) -> list[Statement]:
        if key_id is None:
            return []
        # the ack's fields as `asdict` gives them (all scalars: no recursion, no deep copies)
        result = dict(vars(ack))
        return [self.reads.key_statement(key_id, RequestKey(
            unit=unit, request_id=request_id, method=method, ticket_id=d.ticket_id,
            result=result))]

    @staticmethod
    def _replay(key: RequestKey | UnitRequest, method: str, ref: TicketRef) -> Ack:
        same_ticket = ref.ticket_id in ("", key.ticket_id) and (
            not ref.code or ref.code == key.result["ticket_code"])
        if key.method != method or not same_ticket:
            raise BadRequestError(
                f"request_id {key.request_id!r} was already used for {key.method} on another"
                " ticket or call; use a new request_id")
        return Ack(**{**key.result, "replayed": True})

    @staticmethod
    def _unit_status(d: TicketDispatch, unit: str) -> str:
        if unit == d.assignee:
            return d.state.value
        if unit in d.co_units:
            return "co_handling"
        return "bounced_back" if unit == d.last_bounced_by else d.state.value

    @staticmethod
    def _ctx(ctx: EventContext, d: TicketDispatch) -> EventContext:
        return EventContext(**{**ctx.__dict__, "ticket_id": d.ticket_id,
                               "ticket_code": d.ticket_code})

    # --- dispatchers (the platform) ---

    async def classify(self, ref: TicketRef, *, by: str, category: str, subcategory: str,
                 request_type: str, urgency: str, ctx: EventContext,
                 working_days: int | None = None) -> TicketDispatch:
        """Confirm or correct the classification; the classifier learns it at once. For a
        complex matter the dispatcher may set its reply limit (`working_days`)."""
        label = Label(subcategory=subcategory, request_type=request_type, urgency=urgency)
        try:
            self.router.taxonomy.check(category, subcategory)
            self.router.check_label(label)
        except (UnknownCategoryError, ClassificationError) as exc:
            raise BadRequestError(str(exc)) from exc
        check_reply_limit(urgency, working_days)
        d = await self._as_platform(ref, ctx, lambda d: d.classify(
            by=by, category=category, subcategory=subcategory, request_type=request_type,
            urgency=urgency, confidence=1.0, source="dispatcher",
            working_days=working_days or 0))
        req = d.request or {}
        text = "\n".join(x for x in (req.get("title_masked"), req.get("text_masked")) if x)
        if text:
            self.router.learn(text, label,
                              address=(req.get("place") or {}).get("address_masked") or "")
        return d

    async def assign(self, ref: TicketRef, *, by: str, unit: str, reason: str, at: datetime,
               ctx: EventContext) -> TicketDispatch:
        self.units.check_assignable(unit)
        return await self._as_platform(ref, ctx, lambda d: d.assign(
            unit=unit, by=by, at=at, reason=masked(reason), policy=self.policy))

    async def transfer(self, ref: TicketRef, *, by: str, to_unit: str, reason: str, at: datetime,
                 ctx: EventContext) -> TicketDispatch:
        self.units.check_assignable(to_unit)
        return await self._as_platform(ref, ctx, lambda d: d.transfer(
            by=by, to_unit=to_unit, reason=masked(reason), at=at, policy=self.policy))

    async def approve_transfer(self, ref: TicketRef, *, by: str, at: datetime,
                         ctx: EventContext) -> TicketDispatch:
        return await self._as_platform(ref, ctx, lambda d: d.approve_transfer(
            by=by, at=at, policy=self.policy))

    async def reject_transfer(self, ref: TicketRef, *, by: str, reason: str, at: datetime,
                        ctx: EventContext) -> TicketDispatch:
        return await self._as_platform(ref, ctx, lambda d: d.reject_transfer(
            by=by, reason=masked(reason), at=at))

    async def coordinate(self, ref: TicketRef, *, by: str, lead_unit: str, co_units: list[str],
                   decision: str, at: datetime, ctx: EventContext) -> TicketDispatch:
        for unit in (lead_unit, *co_units):
            self.units.check_assignable(unit)
        return await self._as_platform(ref, ctx, lambda d: d.coordinate(
            by=by, lead_unit=lead_unit, co_units=list(co_units), decision=masked(decision),
            at=at, policy=self.policy))

    async def review(self, ref: TicketRef, *, by: str, accepted: bool, reason: str, at: datetime,
               ctx: EventContext) -> TicketDispatch:
        def act(d: TicketDispatch) -> None:
            if accepted:
                d.accept_reply(by=by, at=at, comment=masked(reason))
                if d.answered:  # an interim (needs_longer) answer leaves it with the unit
                    d.close(by=by, at=at)
            else:
                d.send_back(by=by, reason=masked(reason), at=at)

        return await self._as_platform(ref, ctx, act)

    async def _as_platform(self, ref: TicketRef, ctx: EventContext,
                           act: Callable[[TicketDispatch], None]) -> TicketDispatch:
        ref.check()
        held = self.reads.take(code=ref.code.strip(), ticket_id=ref.ticket_id.strip())
        if held is not None and await self._saved_on_held(held, ctx, act):
            return held
        for _ in range(ATTEMPTS):
            loaded = await self.reads.load(code=ref.code.strip(),
                                           ticket_id=ref.ticket_id.strip())
            d: TicketDispatch | None = loaded.dispatch
            if d is None:
                raise TicketNotFoundError(f"no dispatched ticket {ref}")
            act(d)
            try:
                await self._save(d, ctx)
            except IntegrityError:
                continue
            self.reads.keep(d)
            return d
        raise ConcurrentChangeError(f"ticket {ref} kept changing; try again")

    def get(self, ref: TicketRef) -> dict[str, Any]:
        ref.check()
        row = self.readmodel.ticket(code=ref.code.strip(), ticket_id=ref.ticket_id.strip())
        if row is None:
            raise TicketNotFoundError(f"no dispatched ticket {ref}")
        return {**row, "units": self.readmodel.units_of(row["dispatch_id"])}
