"""Citizens: prove a phone, list one's own tickets, rate an answer, ask for erasure; the
我的诉求 page (/me) that does all of it in a browser. Supervisors erase too."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backbone import auth
from backbone.http import ClientError, NotFoundError, require
from backbone.rate_limits import TOO_MANY, SharedRateLimits
from services.intake.application.citizens import CitizenError, Citizens
from services.intake.entrypoints.http_api import NO_STORE, code_from

MY_REQUESTS = Path(__file__).resolve().parent / "pages" / "my_requests.html"
CitizenDep = Annotated[auth.Principal, require("citizen")]
SupervisorDep = Annotated[auth.Principal, require("supervisor")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class VerificationRequest(_Strict):
    phone: str = Field(min_length=11, max_length=20, examples=["13800000000"])


class SessionRequest(_Strict):
    phone: str = Field(min_length=11, max_length=20)
    code: str = Field(pattern=r"^\d{6}$", description="the six-digit one-time code")


class CitizenRating(_Strict):
    rating: Literal["satisfied", "basically_satisfied", "dissatisfied"]
    comment: str = Field(default="", max_length=2000)


class ErasureOrder(_Strict):
    ticket_code: str = Field(min_length=5, max_length=30,
                             description="any ticket of the citizen whose identity is erased")


class UnavailableError(ClientError):
    status = 503
    code = "unavailable"


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


def router(citizens: Citizens, limits: SharedRateLimits | None = None,
           sign_ins_per_minute: float = 60) -> APIRouter:
    api = APIRouter(prefix="/v1/citizens", tags=["citizens"])
    # public: one client address may ask for codes and trade them this often, on every replica
    # (on top of the per-phone limit): an SMS pump or a code guesser gets 429
    signing_in = [Depends(limits.dependency("citizen-sign-in", capacity=sign_ins_per_minute,
                                            per_s=sign_ins_per_minute / 60))] if limits else []
    page = APIRouter(tags=["citizens"])

    @page.get("/me", response_class=HTMLResponse, include_in_schema=False)
    def my_requests_page() -> HTMLResponse:
        """我的诉求: the citizen's own page (proves the phone by SMS, then lists and rates)."""
        return HTMLResponse(MY_REQUESTS.read_text(encoding="utf-8"))

    @api.post("/verification", status_code=202, dependencies=signing_in, responses=TOO_MANY)
    async def request_code(body: VerificationRequest, response: Response) -> dict[str, Any]:
        """Send a one-time code to this phone by SMS (503 with the reason when the SMS gateway
        fails; the code is returned here only in development and test, where no SMS is sent)."""
        response.headers["Cache-Control"] = NO_STORE
        return await run_in_threadpool(_call, citizens.request_code, body.phone)

    @api.post("/session", dependencies=signing_in, responses=TOO_MANY)
    async def open_session(body: SessionRequest, response: Response) -> dict[str, Any]:
        """Trade the one-time code for a citizen token (role citizen, sub = pseudonym). The
        token is a credential: no cache may keep it (Cache-Control: private, no-store)."""
        response.headers["Cache-Control"] = NO_STORE
        return await run_in_threadpool(_call, citizens.open_session, body.phone, body.code)

    @api.get("/me/tickets")
    def my_tickets(principal: CitizenDep, response: Response) -> dict[str, Any]:
        """Every ticket of the citizen proven by phone, with its code and status: one
        citizen's own list, which no shared cache may keep (Cache-Control: private,
        no-store)."""
        response.headers["Cache-Control"] = NO_STORE
        tickets = citizens.tickets_of(principal.sub)
        if principal.ticket:  # a token scoped to one ticket (tkt) sees that ticket only
            tickets = [t for t in tickets if t["code"] == principal.ticket]
        return {"tickets": tickets}

    @api.post("/me/tickets/{code}/rating", status_code=201)
    async def rate_my_ticket(code: str, body: CitizenRating, request: Request,
                             principal: CitizenDep) -> JSONResponse:
        """Rate the answer to one of my tickets (passed on to feedback with my own token)."""
        code = code_from(code)
        principal.require_ticket(code)
        mine = await run_in_threadpool(citizens.tickets_of, principal.sub)
        if not any(t["code"] == code for t in mine):
            raise NotFoundError(f"you have no ticket {code}")
        url = request.app.state.settings.intake_feedback_url.rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(
                    f"{url}/v1/tickets/{code}/rating", json=body.model_dump(),
                    headers={"authorization": request.headers.get("authorization", "")})
        except httpx.HTTPError as exc:
            raise UnavailableError(f"ratings cannot be taken now ({type(exc).__name__}); "
                                   "try again later") from None
        if answer.status_code >= 500:
            raise UnavailableError("ratings cannot be taken now; try again later")
        return JSONResponse(answer.json(), status_code=answer.status_code)

    @api.post("/me/erasure")
    def erase_me(principal: CitizenDep) -> dict[str, Any]:
        """Erase my identity: my key is destroyed; my tickets go on, without my name or phone."""
        if principal.ticket:  # the identity spans every ticket; a one-ticket token is not it
            raise auth.ForbiddenError("a token scoped to one ticket cannot erase the identity;"
                                      " sign in with your phone (我的诉求)")
        return _call(citizens.erase, principal.sub, actor_role="citizen",
                     actor_id=principal.sub)

    @api.post("/erasure")
    def erase(body: ErasureOrder, principal: SupervisorDep) -> dict[str, Any]:
        """Erase the identity of the citizen behind a ticket (a supervisor, on request)."""
        citizen, ticket_id = _call(citizens.citizen_of_ticket, code_from(body.ticket_code))
        return _call(citizens.erase, citizen, actor_role="supervisor", actor_id=principal.sub,
                     ticket_ids=[ticket_id])

    page.include_router(api)
    return page


def retry_after_header(exc: CitizenRefusedError) -> dict[str, str]:
    if exc.status == 429 or (exc.status == 503 and exc.retry_after_s):
        return {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return {}
