"""Rating (好差评), callbacks (回访), reopen (重办) and close, over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import Field

from backbone.clock import Clock
from backbone.forwarded import client_address
from backbone.http import ClientError
from backbone.rate_limits import TOO_MANY, SharedRateLimits
from services.feedback.adapters.rate_limits import LinkRateLimit
from services.feedback.application.judging import Judged, Judging, judged
from services.feedback.entrypoints.deps import (
    CitizenSideDep,
    Command,
    Idempotent,
    StaffDep,
    context,
    request_key,
    ticket_code,
)

Rating = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class ChannelRating(Command):
    rating: Rating
    comment: str = Field(default="", max_length=2000)
    citizen: str = Field(default="", max_length=200,
                         description="the citizen's pseudonym (channel adapters)")


class LinkRating(Command):
    token: str = Field(min_length=1, max_length=1024)
    rating: Rating
    comment: str = Field(default="", max_length=2000)


class CallbackOutcomeBody(Idempotent):
    reached: bool
    resolved: bool | None = None
    satisfaction: Rating | None = None
    note: str = Field(default="", max_length=2000)


class ReopenBody(Idempotent):
    reason: str = Field(min_length=1, max_length=1000)


def _body(j: Judged) -> dict[str, Any]:
    return {"code": j.ticket_code, "status": j.status, "reply_round": j.reply_round,
            "verdict": j.verdict, "reopen_count": j.reopen_count}


class LinkRatings:
    """The rating through a one-time link, as its route and the route's fast path
    (fast_rating.py) both run it."""

    def __init__(self, judging: Judging, clock: Clock, limits: SharedRateLimits | None = None,
                 per_minute: float = 20):
        self.judging = judging
        self.clock = clock
        self.limits = limits
        self.per_minute = per_minute
        # the per-address limit's tokens, leased a block at a time when it is high
        self.link_limit = None if limits is None else LinkRateLimit(
            limits, "rating-link", capacity=per_minute, per_s=per_minute / 60)

    def limit(self, request: Request) -> Callable[[], None]:
        """The links are public (the token is the credential): one client address may use
        them this often a minute, across every replica. Returned to be called in the
        command's worker-thread step (a dependency of its own was a thread hop more)."""
        link_limit = self.link_limit
        if link_limit is None:
            return lambda: None
        address = client_address(request)
        return lambda: link_limit.take(address)

    def held(self, request: Request) -> Callable[[], bool] | None:
        """The limit's token from the lease this process holds, without I/O (see
        `LinkRateLimit.held`), or None when there is no limit."""
        link_limit = self.link_limit
        if link_limit is None:
            return None
        address = client_address(request)
        return lambda: link_limit.held(address)

    async def rate(self, request: Request, body: LinkRating) -> dict[str, Any]:
        return _body(await self.judging.rate_with_link_async(
            token=body.token.strip(), rating=body.rating, comment=body.comment,
            at=self.clock.command_time(body.occurred_at, moves_clock=False),
            context=context(request),
            admit=self.limit(request), admitted=self.held(request)))


def router(judging: Judging, clock: Clock, links: LinkRatings | None = None) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["rating and callbacks"])
    links = links or LinkRatings(judging, clock)
    link_limit = links.limit

    @api.post("/tickets/{code}/rating", status_code=201)
    async def rate_in_channel(code: str, request: Request, principal: CitizenSideDep,
                              body: Annotated[ChannelRating, Body()]) -> dict[str, Any]:
        """A citizen rates the reply, through their channel; once per reply round."""
        if principal.role == "citizen":
            principal.require_ticket(ticket_code(code))  # a ticket-scoped token: its own only
            if body.citizen and body.citizen != principal.sub:
                raise ClientError("a citizen rates for themselves only; leave 'citizen' out")
            citizen = principal.sub
        else:
            citizen = body.citizen
        return _body(await judging.rate_in_channel_async(
            code=ticket_code(code), citizen=citizen, rating=body.rating, comment=body.comment,
            at=clock.command_time(body.occurred_at, moves_clock=False),
            context=context(request, principal)))

    @api.post("/ratings/link", status_code=201, responses=TOO_MANY)
    async def rate_with_link(request: Request,
                             body: Annotated[LinkRating, Body()]) -> dict[str, Any]:
        """Rate through a one-time link: the link's token is the credential (no bearer token)."""
        return await links.rate(request, body)

    @api.get("/ratings/link", responses=TOO_MANY)
    async def check_link(request: Request, t: Annotated[str, Query(min_length=1, max_length=1024)]
                         ) -> dict[str, Any]:
        """What a rating link is for, and whether it can still be used (changes nothing)."""
        admit, at = link_limit(request), clock.command_time(None)

        def check() -> dict[str, Any]:
            admit()
            return judging.link_status(t.strip(), at)

        return await asyncio.to_thread(check)

    @api.get("/callbacks")
    def callback_worklist(principal: StaffDep, unit: str = "",
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """The staff callback worklist (回访清单), by the rules; most urgent first."""
        items = judging.worklist(unit=unit)[:limit]
        return {"items": [{"code": i.ticket_code, "unit": i.unit_code,
                           "reply_round": i.reply_round, "reasons": list(i.reasons),
                           "reason_text": i.reason_text} for i in items]}

    @api.post("/tickets/{code}/callbacks", status_code=201)
    def record_callback(code: str, request: Request, principal: StaffDep,
                        body: Annotated[CallbackOutcomeBody, Body()]) -> dict[str, Any]:
        """Record a callback outcome; unresolved + dissatisfied reopens, satisfied closes.
        Send a `request_id`: a retry with it returns the first answer and records nothing."""
        code = ticket_code(code)
        return _body(judging.record_callback(
            code=code, staff_id=principal.sub, reached=body.reached,
            resolved=body.resolved, satisfaction=body.satisfaction, note=body.note,
            at=clock.command_time(body.occurred_at, moves_clock=False),
            context=context(request, principal),
            key=request_key(principal, "record_callback", code, body)))

    @api.post("/tickets/{code}/reopen", status_code=201)
    def reopen(code: str, request: Request, principal: StaffDep,
               body: Annotated[ReopenBody, Body()]) -> dict[str, Any]:
        """Staff confirm a dissatisfied ticket unresolved: back to dispatch, same code."""
        code = ticket_code(code)
        return _body(judging.reopen(
            code=code, staff_id=principal.sub, reason=body.reason,
            at=clock.command_time(body.occurred_at, moves_clock=False),
            context=context(request, principal),
            key=request_key(principal, "reopen", code, body)))

    @api.post("/tickets/{code}/close")
    def close(code: str, request: Request, principal: StaffDep,
              body: Annotated[Idempotent, Body()]) -> dict[str, Any]:
        """Close a judged ticket (a dissatisfied one only after a callback attempt)."""
        code = ticket_code(code)
        at = clock.command_time(body.occurred_at, moves_clock=False)
        return _body(judging.close(code=code, at=at,
                                   context=context(request, principal),
                                   key=request_key(principal, "close", code, body)))

    @api.get("/tickets/{code}/feedback")
    def feedback_of(code: str, principal: StaffDep) -> dict[str, Any]:
        """A ticket's feedback record: status, round, verdict, reopen count (staff)."""
        return _body(judged(judging.record(ticket_code(code))))

    return api
