"""The dispatchers' console API (role dispatcher; supervisor reads), plus the registry and
taxonomy for every authenticated caller. The web page at /console uses only this API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from importlib import resources
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from backbone import auth
from backbone.clock import Clock
from backbone.http import ClientError, ConflictError, NotFoundError, require
from backbone.store import EventContext
from backbone.text import writable
from services.dispatch.application.commands import (
    BadRequestError,
    Commands,
    ConcurrentChangeError,
    TicketNotFoundError,
    TicketRef,
)
from services.dispatch.application.projection import QUEUES
from services.dispatch.application.routing import Router
from services.dispatch.application.units import UnitBook, UnknownUnitCodeError
from services.dispatch.domain.errors import (
    DispatchError,
    InvalidCommandError,
    InvalidCoordinationError,
    ReasonRequiredError,
)
from services.dispatch.domain.ticket_dispatch import TicketDispatch
from services.dispatch.entrypoints.fast_queues import queues_answer

DispatcherDep = Annotated[auth.Principal, require("dispatcher")]
ReaderDep = Annotated[auth.Principal, require("dispatcher", "supervisor")]
AnyoneDep = Annotated[auth.Principal, require(*auth.ROLES)]
T = TypeVar("T")
Code = Annotated[str, Field(min_length=1, max_length=64)]


class Stated(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: datetime | None = Field(default=None, description="when it happened (event clock only)")

    @model_validator(mode="before")
    @classmethod
    def _writable_text(cls, data: Any) -> Any:
        return writable(data)  # a reason, a decision: no NUL or controls (backbone.text)


class AssignBody(Stated):
    unit: Code
    reason: str = Field(default="人工派单", min_length=1, max_length=2000)


class TransferBody(Stated):
    to_unit: Code
    reason: str = Field(min_length=1, max_length=2000)


class ReasonBody(Stated):
    reason: str = Field(min_length=1, max_length=2000)


class CoordinateBody(Stated):
    lead_unit: Code
    co_units: list[Code] = Field(default_factory=list, max_length=20)
    decision: str = Field(min_length=1, max_length=4000, description="the written decision")


class ClassificationBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    category: Code
    subcategory: Code
    request_type: Code
    urgency: Code
    working_days: int | None = Field(
        default=None, ge=1, le=365,
        description="complex matters only: the reply limit the platform sets, in working days "
                    "(the SLA policy's range, 5..30); leave out for the policy's default")


class ReviewBody(Stated):
    accepted: bool
    reason: str = Field(default="", max_length=2000)


def refusals(call: Callable[[], T]) -> T:
    """Domain and service refusals as 4xx with the reason (a table would hide the order)."""
    try:
        return call()
    except REFUSED as exc:
        raise refusal(exc) from exc


async def refused(command: Awaitable[T]) -> T:
    """`refusals` of a command run on the event loop."""
    try:
        return await command
    except REFUSED as exc:
        raise refusal(exc) from exc


REFUSED = (TicketNotFoundError, BadRequestError, UnknownUnitCodeError, ReasonRequiredError,
           InvalidCommandError, InvalidCoordinationError, DispatchError, ConcurrentChangeError)


def refusal(exc: Exception) -> Exception:
    """The 4xx of a refusal (the order matters: the invalid-argument errors are
    DispatchErrors too)."""
    if isinstance(exc, TicketNotFoundError):
        return NotFoundError(str(exc))
    if isinstance(exc, BadRequestError | UnknownUnitCodeError):
        return ClientError(str(exc))
    if isinstance(exc, ReasonRequiredError | InvalidCommandError | InvalidCoordinationError):
        return ClientError(exc.reason)
    if isinstance(exc, DispatchError):
        return ConflictError(exc.reason)
    return ConflictError(str(exc))


def view(d: TicketDispatch) -> dict[str, Any]:
    return {"ticket_id": d.ticket_id, "ticket_code": d.ticket_code, "state": d.state.value,
            "owner": d.owner, "assignee": d.assignee, "assignment_no": d.assignment_no,
            "lead_unit": d.lead_unit, "co_units": list(d.co_units),
            "classification": d.classification, "awaiting_reason": d.awaiting_reason,
            "pending_transfer": d.pending_transfer, "version": d.version}


def router(*, commands: Commands, units: UnitBook, routing: Router, clock: Clock) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["dispatchers"])

    def command_time(stated: datetime | None) -> datetime:
        return clock.command_time(stated)

    def ctx(request: Request, principal: auth.Principal) -> EventContext:
        return EventContext(trace_id=request.state.trace_id, actor_role=principal.role,
                            actor_id=principal.sub)

    def ref(code: str) -> TicketRef:
        # A ticket is named by its code; a uuid-looking value is taken as the ticket id.
        return TicketRef(ticket_id=code) if len(code) == 36 and code.count("-") == 4 else (
            TicketRef(code=code))

    @api.get("/units", tags=["registry"])
    def unit_registry(_: AnyoneDep) -> dict[str, Any]:
        """The 1+8+N unit registry as a tree (master platform → counties/zones/departments → …)."""
        return units.tree()

    @api.get("/taxonomy", tags=["registry"])
    def taxonomy(_: AnyoneDep) -> dict[str, Any]:
        """Categories (two levels), request types and urgency grades with their time limits."""
        t = routing.taxonomy
        return {
            "version": t.version,
            "categories": [
                {"code": c, "name_zh": name,
                 "subcategories": [{"code": s, "name_zh": t.subcategory_names[s]}
                                   for s, parent in t.parent_of.items() if parent == c]}
                for c, name in t.category_names.items()],
            "request_types": sorted(t.type_cues),
            "urgency_grades": [{"code": g, "working_days": d} for g, d in t.working_days.items()],
            "routing_version": routing.table.version,
            "min_confidence": routing.table.min_confidence,
        }

    @api.get("/queues")
    async def queues(_: ReaderDep, queue: Annotated[str | None, Query(max_length=32)] = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        """Tickets that need a person: unrouted/low confidence, bounced back, disputed, replies
        awaiting review; with the count of each queue."""
        if queue is not None and queue not in QUEUES:
            raise ClientError(f"queue {queue!r} is not one of {', '.join(QUEUES)}")
        counts, tickets = await commands.reads.queue(queue, limit=limit)
        return queues_answer(counts, tickets)  # (also served in front: fast_queues.py)

    @api.get("/tickets/{code}")
    def ticket(code: str, _: ReaderDep) -> dict[str, Any]:
        """One ticket's dispatch: state, owner, classification, and each unit's assignment."""
        return refusals(lambda: commands.get(ref(code)))

    @api.post("/tickets/{code}/classification")
    async def classify(code: str, body: ClassificationBody, request: Request,
                 principal: DispatcherDep) -> dict[str, Any]:
        """Confirm or correct the classification (kept to teach the classifier)."""
        return view(await refused(commands.classify(
            ref(code), by=principal.sub, category=body.category, subcategory=body.subcategory,
            request_type=body.request_type, urgency=body.urgency,
            working_days=body.working_days, ctx=ctx(request, principal))))

    @api.post("/tickets/{code}/assign")
    async def assign(code: str, body: AssignBody, request: Request,
               principal: DispatcherDep) -> dict[str, Any]:
        """Assign to a unit: first dispatch, or the platform's decision after a bounce-back."""
        return view(await refused(commands.assign(
            ref(code), by=principal.sub, unit=body.unit, reason=body.reason,
            at=command_time(body.at), ctx=ctx(request, principal))))

    @api.post("/tickets/{code}/transfer")
    async def transfer(code: str, body: TransferBody, request: Request,
                 principal: DispatcherDep) -> dict[str, Any]:
        """Move the ticket (and the duty to reply) to another unit."""
        return view(await refused(commands.transfer(
            ref(code), by=principal.sub, to_unit=body.to_unit, reason=body.reason,
            at=command_time(body.at), ctx=ctx(request, principal))))

    @api.post("/tickets/{code}/transfer-request/approve")
    async def approve_transfer(code: str, body: Stated, request: Request,
                         principal: DispatcherDep) -> dict[str, Any]:
        """Approve a unit's transfer request."""
        return view(await refused(commands.approve_transfer(
            ref(code), by=principal.sub, at=command_time(body.at),
            ctx=ctx(request, principal))))

    @api.post("/tickets/{code}/transfer-request/reject")
    async def reject_transfer(code: str, body: ReasonBody, request: Request,
                        principal: DispatcherDep) -> dict[str, Any]:
        """Refuse a unit's transfer request: it keeps the ticket (首接首办)."""
        return view(await refused(commands.reject_transfer(
            ref(code), by=principal.sub, reason=body.reason, at=command_time(body.at),
            ctx=ctx(request, principal))))

    @api.post("/tickets/{code}/coordinate")
    async def coordinate(code: str, body: CoordinateBody, request: Request,
                   principal: DispatcherDep) -> dict[str, Any]:
        """统筹协调: a lead unit, co-handling units and a written decision; none may bounce back."""
        return view(await refused(commands.coordinate(
            ref(code), by=principal.sub, lead_unit=body.lead_unit, co_units=body.co_units,
            decision=body.decision, at=command_time(body.at),
            ctx=ctx(request, principal))))

    @api.post("/tickets/{code}/review")
    async def review(code: str, body: ReviewBody, request: Request,
               principal: DispatcherDep) -> dict[str, Any]:
        """Review a unit's reply: accepted (dispatch closes) or sent back with a reason."""
        if not body.accepted and not body.reason.strip():
            raise ClientError("sending a reply back needs a reason")
        return view(await refused(commands.review(
            ref(code), by=principal.sub, accepted=body.accepted, reason=body.reason,
            at=command_time(body.at), ctx=ctx(request, principal))))

    return api


def console_router() -> APIRouter:
    page = APIRouter(tags=["console"])

    @page.get("/console", response_class=HTMLResponse, include_in_schema=False)
    def console() -> HTMLResponse:
        """派单员工作台 (the page calls the /v1 API with the token the user pastes)."""
        html = resources.files("services.dispatch.entrypoints").joinpath("console.html")
        return HTMLResponse(html.read_text("utf-8"))

    return page
