"""Observers, business-environment officers and deputies: follow, notifications, remarks,
push to supervision (聚民意、惠民生). And the units' view of the remarks left for them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from pydantic import Field

from backbone import auth
from backbone.clock import Clock
from backbone.http import ClientError, NotFoundError
from services.feedback.adapters.read_models import Queries
from services.feedback.application.following import Following, Person
from services.feedback.entrypoints.deps import (
    DeputyDep,
    FollowerDep,
    Idempotent,
    UnitSideDep,
    context,
    request_key,
    ticket_code,
)


class FollowBody(Idempotent):
    kind: Literal["ticket", "unit", "category"]
    target: str = Field(min_length=1, max_length=100, description="ticket code, unit or category code")
    as_role: Literal["observer", "business_environment_officer", "deputy"] | None = None


class RemarkBody(Idempotent):
    text: str = Field(min_length=1, max_length=2000)


class PushBody(Idempotent):
    reason: str = Field(min_length=1, max_length=1000)


def person(principal: auth.Principal, as_role: str | None = None) -> Person:
    if principal.role == "deputy":
        return Person(principal.sub, "deputy")
    if as_role == "deputy":
        raise ClientError("an observer token cannot act as a deputy")
    return Person(principal.sub, as_role or "observer")


def router(following: Following, queries: Queries, clock: Clock,
           units: frozenset[str] = frozenset()) -> APIRouter:
    """`units`: the registry's unit codes; a unit to follow must be one of them (an empty
    set: the registry could not be read, every code is taken)."""
    api = APIRouter(prefix="/v1", tags=["observers and deputies"])

    @api.post("/follows", status_code=201)
    def follow(request: Request, principal: FollowerDep,
               body: Annotated[FollowBody, Body()]) -> dict[str, Any]:
        """Follow a ticket (by code), a unit or a category; its events become notifications."""
        target = ticket_code(body.target) if body.kind == "ticket" else body.target.strip()
        if body.kind == "unit" and units and target and target not in units:
            # a mistyped code was followed silently and never told of anything
            raise NotFoundError(f"no unit {target[:64]!r} in the unit registry (codes like "
                                "'yingzhou', 'urban-mgmt': dispatch's GET /v1/units)")
        following.follow(person(principal, body.as_role), kind=body.kind, target=target,
                         at=clock.command_time(body.occurred_at, moves_clock=False),
                         context=context(request, principal),
                         key=request_key(principal, "follow", target, body))
        return {"kind": body.kind, "target": target, "following": True}

    @api.delete("/follows")
    def unfollow(request: Request, principal: FollowerDep,
                 body: Annotated[FollowBody, Body()]) -> dict[str, Any]:
        """Stop following."""
        target = ticket_code(body.target) if body.kind == "ticket" else body.target.strip()
        following.unfollow(person(principal), kind=body.kind, target=target,
                           at=clock.command_time(body.occurred_at, moves_clock=False),
                           context=context(request, principal),
                           key=request_key(principal, "unfollow", target, body))
        return {"kind": body.kind, "target": target, "following": False}

    @api.get("/follows")
    def my_follows(principal: FollowerDep) -> dict[str, Any]:
        """What I follow (tickets by id)."""
        return {"follows": queries.follows_of(principal.sub)}

    @api.get("/notifications")
    def notifications(principal: FollowerDep,
                      after: Annotated[int, Query(ge=0)] = 0,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """Events of what I follow, oldest first after `after` (poll with the last id)."""
        rows = queries.notifications(principal.sub, after, limit)
        return {"notifications": [{**r, "occurred_at": r["occurred_at"].isoformat()}
                                  for r in rows],
                "last_id": rows[-1]["id"] if rows else after}

    @api.post("/tickets/{code}/remarks", status_code=201)
    def remark(code: str, request: Request, principal: FollowerDep,
               body: Annotated[RemarkBody, Body()]) -> dict[str, Any]:
        """Leave a remark the ticket's units see (RemarkAdded)."""
        code = ticket_code(code)
        following.remark(person(principal), code=code, text=body.text,
                         at=clock.command_time(body.occurred_at, moves_clock=False),
                         context=context(request, principal),
                         key=request_key(principal, "remark", code, body))
        return {"code": code, "remarked": True}

    @api.post("/tickets/{code}/supervision", status_code=201)
    def push(code: str, request: Request, principal: DeputyDep,
             body: Annotated[PushBody, Body()]) -> dict[str, Any]:
        """A deputy pushes a followed case to supervision (督办) through 聚民意、惠民生."""
        code = ticket_code(code)
        following.push_to_supervision(person(principal), code=code, reason=body.reason,
                                      at=clock.command_time(body.occurred_at, moves_clock=False),
                                      context=context(request, principal),
                                      key=request_key(principal, "push_to_supervision", code,
                                                      body))
        return {"code": code, "pushed": True}

    @api.get("/remarks")
    def remarks(principal: UnitSideDep,
                limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        """Remarks left for my unit (a unit token sees its own unit's only)."""
        unit = principal.unit if principal.role == "unit" else ""
        rows = queries.remarks_for(unit, limit)
        return {"remarks": [{**r, "occurred_at": r["occurred_at"].isoformat()} for r in rows]}

    return api
