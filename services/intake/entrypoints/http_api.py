"""Intake's HTTP API for channel adapters (WeChat, 12345 hotline, mayor's mailbox, media, web)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from backbone import auth
from backbone.http import ClientError, NotFoundError, require
from backbone.store import EventContext
from services.intake.application.submissions import Submissions
from services.intake.domain.channels import ChannelInput, to_ticket_draft
from services.intake.domain.ticket_code import InvalidTicketCodeError, canonical_code

AdapterDep = Annotated[auth.Principal, require("channel_adapter")]
StaffDep = Annotated[auth.Principal, require("channel_adapter", "dispatcher", "supervisor")]


def router(submissions: Submissions) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["channel adapters"])

    @api.post("/requests", status_code=201)
    def submit_request(request: Request, principal: AdapterDep,
                       payload: Annotated[ChannelInput, Body()]) -> JSONResponse:
        """Submit one citizen request from a channel; returns its ticket code (一诉一码)."""
        draft = to_ticket_draft(payload)
        ctx = EventContext(trace_id=request.state.trace_id, actor_role="channel_adapter",
                           actor_id=principal.sub)
        result = submissions.submit(draft, adapter_id=principal.sub, context=ctx,
                                    now=datetime.now(UTC))
        body: dict[str, Any] = {"code": result.code, "ticket_id": str(result.ticket_id),
                                "status": result.status, "replayed": result.replayed}
        if result.reason_code:
            body["rejection"] = {"reason_code": result.reason_code,
                                 "reason_text": result.reason_text}
        return JSONResponse(body, status_code=200 if result.replayed else 201)

    @api.get("/tickets/{code}")
    def get_ticket(code: str, principal: StaffDep) -> dict[str, Any]:
        """A ticket's status by its code (a mistyped code is refused with the reason)."""
        try:
            canonical = canonical_code(code)
        except InvalidTicketCodeError as exc:
            raise ClientError(str(exc)) from exc
        ticket = submissions.get(canonical)
        if ticket is None:
            raise NotFoundError(f"no ticket with code {canonical}")
        return {"code": ticket.code, "ticket_id": str(ticket.id), "status": ticket.status,
                "channel": ticket.channel, "text_masked": ticket.masked_text,
                "rejection": ticket.rejection}

    return api
