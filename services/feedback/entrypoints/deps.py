"""What the feedback routes share: role dependencies, request bodies' common parts, context."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from backbone import auth
from backbone.http import require
from backbone.store import EventContext
from backbone.text import writable
from backbone.ticket_codes import ticket_code  # noqa: F401  (the routes take it from here)
from services.feedback.application.receipts import RequestKey
from services.feedback.domain.receipts import fingerprint

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

    @model_validator(mode="before")
    @classmethod
    def _writable_text(cls, data: Any) -> Any:
        return writable(data)  # a comment, a note, a reason: no NUL or controls (backbone.text)


class Idempotent(Command):
    """A staff or follower command that a client may safely retry: same `request_id`, same
    answer, nothing done twice; the same `request_id` with another body is refused (409)."""

    request_id: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$",
        description="the client's idempotency key (printable ASCII, no spaces); a retry with "
                    "the same key returns the first answer and changes nothing")


def request_key(principal: auth.Principal, command: str, target: str,
                body: Idempotent) -> RequestKey | None:
    """The command's request key, or None when the client sent no request id."""
    if body.request_id is None:
        return None
    stated = body.model_dump(mode="json", exclude={"request_id"})
    return RequestKey(caller=f"{principal.role}:{principal.sub}", request_id=body.request_id,
                      command=command, fingerprint=fingerprint(command, target, stated))


def context(request: Request, principal: auth.Principal | None = None) -> EventContext:
    if principal is None:
        return EventContext(trace_id=request.state.trace_id, actor_role="citizen",
                            actor_id="rating-link")
    return EventContext(trace_id=request.state.trace_id, actor_role=principal.role,
                        actor_id=principal.sub, actor_unit=principal.unit)


