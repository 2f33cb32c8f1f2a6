"""Citizens: prove a phone, list one's own tickets, ask for erasure. Supervisors erase too."""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from backbone import auth
from backbone.http import ClientError, require
from services.intake.application.citizens import CitizenError, Citizens
from services.intake.entrypoints.http_api import code_from

CitizenDep = Annotated[auth.Principal, require("citizen")]
SupervisorDep = Annotated[auth.Principal, require("supervisor")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VerificationRequest(_Strict):
    phone: str = Field(min_length=11, max_length=20, examples=["13800000000"])


class SessionRequest(_Strict):
    phone: str = Field(min_length=11, max_length=20)
    code: str = Field(pattern=r"^\d{6}$", description="the six-digit one-time code")


class ErasureOrder(_Strict):
    ticket_code: str = Field(min_length=5, max_length=30,
                             description="any ticket of the citizen whose identity is erased")


class CitizenRefusedError(ClientError):
    def __init__(self, exc: CitizenError):
        super().__init__(exc.reason)
        self.status = exc.status
        self.code = {401: "unauthenticated", 404: "not_found", 410: "gone",
                     429: "rate_limited", 503: "sms_unavailable"}.get(exc.status, "bad_request")
        self.retry_after_s = exc.retry_after_s


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except CitizenError as exc:
        raise CitizenRefusedError(exc) from exc


def router(citizens: Citizens) -> APIRouter:
    api = APIRouter(prefix="/v1/citizens", tags=["citizens"])

    @api.post("/verification", status_code=202)
    async def request_code(body: VerificationRequest) -> dict[str, Any]:
        """Send a one-time code to this phone by SMS (503 with the reason when the SMS gateway
        fails; the code is returned here only in development and test, where no SMS is sent)."""
        return await run_in_threadpool(_call, citizens.request_code, body.phone)

    @api.post("/session")
    async def open_session(body: SessionRequest) -> dict[str, Any]:
        """Trade the one-time code for a citizen token (role citizen, sub = pseudonym)."""
        return await run_in_threadpool(_call, citizens.open_session, body.phone, body.code)

    @api.get("/me/tickets")
    def my_tickets(principal: CitizenDep) -> dict[str, Any]:
        """Every ticket of the citizen proven by phone, with its code and status."""
        return {"tickets": citizens.tickets_of(principal.sub)}

    @api.post("/me/erasure")
    def erase_me(principal: CitizenDep) -> dict[str, Any]:
        """Erase my identity: my key is destroyed; my tickets go on, without my name or phone."""
        return _call(citizens.erase, principal.sub, actor_role="citizen",
                     actor_id=principal.sub)

    @api.post("/erasure")
    def erase(body: ErasureOrder, principal: SupervisorDep) -> dict[str, Any]:
        """Erase the identity of the citizen behind a ticket (a supervisor, on request)."""
        citizen, ticket_id = _call(citizens.citizen_of_ticket, code_from(body.ticket_code))
        return _call(citizens.erase, citizen, actor_role="supervisor", actor_id=principal.sub,
                     ticket_ids=[ticket_id])

    return api


def retry_after_header(exc: CitizenRefusedError) -> dict[str, str]:
    if exc.status == 429 or (exc.status == 503 and exc.retry_after_s):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return {}
