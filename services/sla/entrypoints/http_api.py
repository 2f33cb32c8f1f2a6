"""The SLA service's HTTP API: supervisors' views and commands, calendar loading.

Roles: views for supervisor, dispatcher and unit (a unit sees its own only); supervision
orders issued and closed by supervisors, answered by the unit addressed; extension decisions
by supervisors and dispatchers; pause/resume (waiting for the citizen) by dispatchers;
official holiday schedules loaded by supervisors.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from backbone import auth
from backbone.clock import Clock
from backbone.http import ClientError, ConflictError, NotFoundError, require
from backbone.privacy import echo
from backbone.store import EventContext
from services.sla.application.desk import Desk
from services.sla.application.gate import EndsNeeded
from services.sla.application.schedules import ScheduleConflictError, Schedules
from services.sla.application.views import Views
from services.sla.domain.calendar import ScheduleInvalidError
from services.sla.entrypoints.timers import TimeSource

ViewerDep = Annotated[auth.Principal, require("supervisor", "dispatcher", "unit")]
SupervisorDep = Annotated[auth.Principal, require("supervisor")]
DeciderDep = Annotated[auth.Principal, require("supervisor", "dispatcher")]
DispatcherDep = Annotated[auth.Principal, require("dispatcher")]
UnitDep = Annotated[auth.Principal, require("unit")]
CoverageDep = Annotated[auth.Principal, require("supervisor", "dispatcher", "unit", "auditor",
                                                "observer")]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: dt.datetime | None = Field(None, description="business time; required in event mode")


class PauseCommand(Command):
    reason: str = Field(min_length=1, max_length=500)


class ExtensionDecision(Command):
    approve: bool
    working_days: int | None = Field(None, ge=1, le=30)
    reason: str = Field("", max_length=500)


class IssueOrder(Command):
    ticket_id: str = Field(min_length=1, max_length=100)
    unit: str | None = Field(None, min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=1000)
    request_id: str | None = Field(None, max_length=100, description="retry key")


class AnswerOrder(Command):
    text: str = Field(min_length=1, max_length=4000)


class CloseOrder(Command):
    note: str = Field("", max_length=1000)


def _scope(principal: auth.Principal, unit: str | None) -> str | None:
    """A unit sees its own only; others may ask for any unit, or all."""
    if principal.role != "unit":
        return unit
    if unit and unit != principal.unit:
        raise auth.ForbiddenError(f"unit {principal.unit} may only see its own lists")
    return principal.unit


def _actor(request: Request, principal: auth.Principal) -> EventContext:
    return EventContext(trace_id=request.state.trace_id, actor_role=principal.role,
                        actor_id=principal.sub, actor_unit=principal.unit)


def _order_id(order_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(order_id)
    except ValueError as exc:
        raise ClientError(f"{echo(order_id)} is not a supervision order id") from exc


def router(*, desk: Desk, views: Views, schedules: Schedules, time: TimeSource,
           clock: Clock) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["supervision"])

    def command_time(stated: dt.datetime | None) -> dt.datetime:
        if stated is None and clock.is_event_time:
            current = time.current()
            if current is None:
                raise ClientError("event-clock mode: state the command's time in `at`")
            return current
        return clock.command_time(stated)

    def now() -> dt.datetime:
        current = time.current()
        if current is None:
            raise ClientError("event-clock mode: no event consumed yet, so no 'now'")
        return current

    async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def command(fn: Any, **kwargs: Any) -> Any:
        """A desk command; on the wall clock, one whose ticket owes something by its time is
        run again with the lifecycle partitions' end offsets (application/gate.py: nothing
        was saved), and refused (503 facts_pending, Retry-After) when they are unknown or
        its partition's unread facts could prevent what is owed."""
        try:
            return await call(fn, **kwargs)
        except EndsNeeded:
            ends = await time.command_ends()
        return await call(fn, ends=ends, **kwargs)

    async def ticket(ref: str) -> str:
        """A ticket named by its id or by its code (FY-…)."""
        return str(await call(views.ticket_id, ref))

    # -- views ---------------------------------------------------------------------------------
    @api.get("/overdue")
    async def overdue(principal: ViewerDep, unit: str | None = None) -> dict[str, Any]:
        """Clocks past their deadline without a reply, per unit (a unit: its own)."""
        items = await call(views.overdue, unit=_scope(principal, unit))
        return {"unit": _scope(principal, unit), "count": len(items), "items": items}

    @api.get("/due-soon")
    async def due_soon(principal: ViewerDep, unit: str | None = None,
                       working_days: Annotated[int, Query(ge=0, le=10)] = 1) -> dict[str, Any]:
        """Running clocks due by the end of the k-th working day after today."""
        at = now()
        items = await call(views.due_soon, unit=_scope(principal, unit), now=at,
                           working_days=working_days)
        return {"unit": _scope(principal, unit), "now": at.isoformat(),
                "until": views.due_soon_limit(at, working_days).isoformat(),
                "count": len(items), "items": items}

    @api.get("/tickets/{ticket_id}/clocks")
    async def ticket_clocks(ticket_id: str, principal: ViewerDep) -> dict[str, Any]:
        """A ticket's clocks (a reopened ticket has one per round); by id or code."""
        ticket_id = await ticket(ticket_id)
        items = await call(views.clocks, ticket_id)
        if principal.role == "unit":
            items = [c for c in items if c["unit"] == principal.unit]
        if not items:
            raise NotFoundError(f"no SLA clock for ticket {echo(ticket_id)}")
        return {"ticket_id": ticket_id, "clocks": items}

    @api.get("/supervision-orders")
    async def orders(principal: ViewerDep, unit: str | None = None, status: str | None = None,
                     ticket_id: str | None = None) -> dict[str, Any]:
        """Supervision orders (督办) and their answers, addressed to a unit or all."""
        if status not in (None, "open", "answered", "closed"):
            raise ClientError("status must be open, answered or closed")
        if ticket_id is not None:
            ticket_id = await ticket(ticket_id)
        items = await call(views.orders, unit=_scope(principal, unit), status=status,
                           ticket_id=ticket_id)
        return {"count": len(items), "items": items}

    @api.get("/supervision-orders/{order_id}")
    async def order(order_id: str, principal: ViewerDep) -> dict[str, Any]:
        """One supervision order with its answer."""
        found = await call(views.order, _order_id(order_id))
        if found is None or (principal.role == "unit"
                             and principal.unit not in found["addressees"]):
            raise NotFoundError(f"no supervision order {order_id}")
        return found

    # -- commands ------------------------------------------------------------------------------
    @api.post("/supervision-orders", status_code=201)
    async def issue_order(request: Request, principal: SupervisorDep,
                          body: Annotated[IssueOrder, Body()]) -> dict[str, Any]:
        """Issues a supervision order (督办) by hand; ``request_id`` makes a retry safe."""
        order_id = await command(desk.issue_order, ticket_id=await ticket(body.ticket_id),
                                 unit=body.unit, reason=body.reason,
                                 request_id=body.request_id or uuid.uuid4().hex,
                                 at=command_time(body.at), actor=_actor(request, principal))
        return {"order_id": order_id}

    @api.post("/supervision-orders/{order_id}/answer")
    async def answer_order(order_id: str, request: Request, principal: UnitDep,
                           body: Annotated[AnswerOrder, Body()]) -> dict[str, Any]:
        """The unit answers an order addressed to it."""
        addressees = await call(desk.order_addressees, order_id)
        if principal.unit not in addressees:
            raise auth.ForbiddenError(f"the order is not addressed to {principal.unit}")
        await command(desk.answer_order, order_id=order_id, unit=principal.unit, text=body.text,
                      at=command_time(body.at), actor=_actor(request, principal))
        return {"order_id": order_id, "status": "answered"}

    @api.post("/supervision-orders/{order_id}/close")
    async def close_order(order_id: str, request: Request, principal: SupervisorDep,
                          body: Annotated[CloseOrder, Body()]) -> dict[str, Any]:
        """The supervisor closes an order (answer accepted, or no longer needed)."""
        await command(desk.close_order, order_id=order_id, note=body.note,
                      at=command_time(body.at), actor=_actor(request, principal))
        return {"order_id": order_id, "status": "closed"}

    @api.post("/tickets/{ticket_id}/extension-decision")
    async def extension_decision(ticket_id: str, request: Request, principal: DeciderDep,
                                 body: Annotated[ExtensionDecision, Body()]) -> dict[str, Any]:
        """Approves (possibly fewer days) or refuses the unit's pending extension request."""
        if not body.approve and not body.reason.strip():
            raise ClientError("a refusal must give its reason")
        ticket_id = await ticket(ticket_id)
        await command(desk.decide_extension, ticket_id=ticket_id, approve=body.approve,
                      working_days=body.working_days, reason=body.reason,
                      at=command_time(body.at), actor=_actor(request, principal))
        return {"ticket_id": ticket_id, "approved": body.approve}

    @api.post("/tickets/{ticket_id}/pause")
    async def pause(ticket_id: str, request: Request, principal: DispatcherDep,
                    body: Annotated[PauseCommand, Body()]) -> dict[str, Any]:
        """Stops the clock while the platform waits for the citizen (补充材料)."""
        ticket_id = await ticket(ticket_id)
        await command(desk.pause, ticket_id=ticket_id, reason=body.reason,
                      at=command_time(body.at), actor=_actor(request, principal))
        return {"ticket_id": ticket_id, "status": "paused"}

    @api.post("/tickets/{ticket_id}/resume")
    async def resume(ticket_id: str, request: Request, principal: DispatcherDep,
                     body: Annotated[Command, Body()]) -> dict[str, Any]:
        """Counts again; the deadline moves later by the paused working time."""
        ticket_id = await ticket(ticket_id)
        await command(desk.resume, ticket_id=ticket_id, at=command_time(body.at),
                      actor=_actor(request, principal))
        return {"ticket_id": ticket_id, "status": "running"}

    # -- calendar ------------------------------------------------------------------------------
    @api.put("/calendar/official/{year}")
    async def load_official_schedule(year: int, request: Request, principal: SupervisorDep,
                                     body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Loads a year's official holiday schedule (JSON as in data/official/README.md);
        provisional deadlines are recomputed, each change a DeadlineRecomputed event. The
        schedule is also published on `calendar.schedules`, for dispatch's sign-for
        deadlines (409: another load of the year was stored at the same time; load again)."""
        if body.get("year") != year:
            raise ClientError(f"the schedule's year {body.get('year')!r} is not {year}")
        stated = body.pop("at", None)
        try:
            at = command_time(dt.datetime.fromisoformat(stated) if stated else None)
        except (TypeError, ValueError) as exc:
            raise ClientError(f"`at` is not an ISO time: {stated!r}") from exc
        try:
            schedule = await call(schedules.store, body=body, loaded_by=principal.sub, at=at,
                                  context=_actor(request, principal))
        except ScheduleInvalidError as exc:
            raise ClientError(str(exc)) from exc
        except ScheduleConflictError as exc:
            raise ConflictError(str(exc)) from exc
        recomputed = await call(desk.recompute_provisional, at=at,
                                actor=_actor(request, principal))
        return {"year": schedule.year, "holidays": len(schedule.holidays),
                "make_up_working_days": len(schedule.make_up_working_days),
                "recomputed": recomputed}

    @api.get("/calendar/coverage")
    async def coverage(principal: CoverageDep) -> dict[str, Any]:
        """Which years the calendar answers from official data; the rest are provisional."""
        result = schedules.coverage()
        result["provisional_clocks_running"] = await call(views.provisional_count)
        return result

    return api
