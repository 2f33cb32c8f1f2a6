"""What the feedback routes share: role dependencies, request bodies' common parts, context."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from backbone import auth
from backbone.http import ClientError, require
from backbone.store import EventContext

CitizenSideDep = Annotated[auth.Principal, require("channel_adapter", "citizen")]
StaffDep = Annotated[auth.Principal, require("dispatcher", "supervisor")]
FollowerDep = Annotated[auth.Principal, require("observer", "deputy")]
DeputyDep = Annotated[auth.Principal, require("deputy")]
UnitSideDep = Annotated[auth.Principal, require("unit", "dispatcher", "supervisor")]


class Command(BaseModel):
    """Every state-changing body: unknown fields refused; optional stated time."""

    model_config = ConfigDict(extra="forbid")
    occurred_at: datetime | None = Field(
        default=None, description="when it happened (event-time mode: THE time)")


def context(request: Request, principal: auth.Principal | None = None) -> EventContext:
    if principal is None:
        return EventContext(trace_id=request.state.trace_id, actor_role="citizen",
                            actor_id="rating-link")
    return EventContext(trace_id=request.state.trace_id, actor_role=principal.role,
                        actor_id=principal.sub, actor_unit=principal.unit)


def ticket_code(code: str) -> str:
    canonical = code.strip().upper()
    if not canonical or len(canonical) > 40 or not canonical.isalnum():
        raise ClientError(f"{code[:40]!r} is not a ticket code")
    return canonical
