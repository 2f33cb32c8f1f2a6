"""Intake's HTTP API for channel adapters (WeChat, 12345 hotline, mayor's mailbox, media, web)
and for the dispatchers who confirm or undo merges (并单)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from backbone import auth
from backbone.access_log import AccessLog
from backbone.clock import BACKFILL_ROLES, Clock
from backbone.http import ClientError, ConflictError, NotFoundError, require
from backbone.store import EventContext
from services.intake.application.attachments import (
    AttachmentDeniedError,
    AttachmentGoneError,
    AttachmentMissingError,
    Attachments,
)
from services.intake.application.citizens import CitizenError, Citizens
from services.intake.application.merges import MergeError, Merges, TicketNotFoundError
from services.intake.application.submissions import (
    RateLimitedError,
    SubmissionRefusedError,
    Submissions,
    Submitted,
)
from services.intake.domain.attachments import AttachmentRejectedError
from services.intake.domain.channels import ChannelInput, to_ticket_draft
from services.intake.domain.ticket import CaseError, TicketError
from services.intake.domain.ticket_code import InvalidTicketCodeError, canonical_code
from services.intake.entrypoints.examples import CHANNEL_EXAMPLES

AdapterDep = Annotated[auth.Principal, require("channel_adapter")]
StaffDep = Annotated[auth.Principal, require("channel_adapter", "dispatcher", "supervisor")]
DispatcherDep = Annotated[auth.Principal, require("dispatcher", "supervisor")]
# and the notifier (role system), which needs the phone for the one SMS it is sending
ContactReaderDep = Annotated[auth.Principal, require("dispatcher", "supervisor", "system")]
AttachmentReaderDep = Annotated[auth.Principal,
                               require("dispatcher", "supervisor", "unit", "citizen")]


class UnprocessableError(ClientError):
    status = 422
    code = "invalid_request"


class GoneError(ClientError):
    status = 410
    code = "gone"


def code_from(text: str) -> str:
    """The canonical ticket code, or a 400 that says what is wrong with the one typed."""
    try:
        return canonical_code(text)
    except InvalidTicketCodeError as exc:
        raise ClientError(str(exc)) from exc


def answer(result: Submitted) -> dict[str, Any]:
    body: dict[str, Any] = {"code": result.code, "ticket_id": str(result.ticket_id),
                            "status": result.status, "replayed": result.replayed}
    if result.reason_code:
        body["rejection"] = {"reason_code": result.reason_code, "reason_text": result.reason_text}
    return body


def refused(exc: SubmissionRefusedError) -> Exception:
    if isinstance(exc, RateLimitedError):
        return exc  # the app's handler answers 429 with Retry-After
    return UnprocessableError(exc.reason)


class UndoMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=2, max_length=200, description="why these are not one problem")


class MergeInto(BaseModel):
    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=5, max_length=30, description="code of a ticket in the case")


async def submission(submissions: Submissions, clock: Clock, principal: auth.Principal,
                     payload: Any, trace_id: str) -> tuple[int, dict[str, Any]]:
    """POST /v1/requests' work, for its route and for its lean path (entrypoints/fast_submit):
    decided on the event loop, the group commit awaited (application/submissions.py); the
    answer's status and JSON."""
    now = clock.command_time(payload.occurred_at, may_backfill=principal.role in BACKFILL_ROLES)
    ctx = EventContext(trace_id=trace_id, actor_role="channel_adapter", actor_id=principal.sub)
    try:
        result = await submissions.submit_async(
            to_ticket_draft(payload), adapter_id=principal.sub, context=ctx, now=now,
            backfilled=clock.backfilled(now))
    except SubmissionRefusedError as exc:
        raise refused(exc) from exc
    return 200 if result.replayed else 201, answer(result)


async def submit(submissions: Submissions, clock: Clock, principal: auth.Principal,
                 payload: Any, trace_id: str) -> Response:
    status, body = await submission(submissions, clock, principal, payload, trace_id)
    return JSONResponse(body, status_code=status)


async def uploaded(attachments: Attachments, max_bytes: int, file: UploadFile
                   ) -> tuple[int, dict[str, Any]]:
    """POST /v1/attachments' work, for its route and its lean path (entrypoints/fast_upload):
    the file's bytes stored (encrypted, fsynced) in a worker thread; the answer's status and
    JSON."""
    content = await file.read(max_bytes + 1)
    if len(content) > max_bytes:
        raise ClientError(f"the file is over {max_bytes // (1024 * 1024)} MB")
    try:
        found, new = await asyncio.to_thread(attachments.upload, content)
    except AttachmentRejectedError as exc:
        raise UnprocessableError(str(exc)) from exc
    return 201 if new else 200, {"sha256": found.sha256, "kind": found.kind,
                                 "media_type": found.mime, "size": found.size, "new": new}


# POST /v1/requests' answers besides 201 and 422, for the OpenAPI page
SUBMISSION_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "the same request sent again (same adapter and request_id): the "
                         "first answer, with replayed true"},
    400: {"description": "bad_time: occurred_at without a zone, in the future, or further "
                         "back than the adapter may backfill"},
    413: {"description": "too_large: a body over 64 KB"},
    429: {"description": "rate_limited: too many from this adapter or this citizen "
                         "(Retry-After: seconds)"},
}


def router(submissions: Submissions, clock: Clock) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["channel adapters"])

    @api.post("/requests", status_code=201, responses=SUBMISSION_ANSWERS)
    async def submit_request(
        request: Request, principal: AdapterDep,
        payload: Annotated[ChannelInput, Body(openapi_examples=CHANNEL_EXAMPLES)],  # type: ignore[arg-type]
    ) -> Response:
        """Submit one citizen request from a channel; returns its ticket code (一诉一码)."""
        return await submit(submissions, clock, principal, payload, request.state.trace_id)

    @api.get("/tickets/{code}")
    def get_ticket(code: str, principal: StaffDep) -> dict[str, Any]:
        """A ticket's status by its code (a mistyped code is refused with the reason)."""
        canonical = code_from(code)
        ticket = submissions.get(canonical)
        if ticket is None:
            raise NotFoundError(f"no ticket with code {canonical}")
        return {"code": ticket.code, "ticket_id": str(ticket.id), "status": ticket.status,
                "channel": ticket.channel, "text_masked": ticket.masked_text,
                "rejection": ticket.rejection, "flags": ticket.flags,
                "case_id": str(ticket.case_id) if ticket.case_id else None}

    return api


WhyQuery = Annotated[str, Query(max_length=300, description=(
    "why you read it (kept in the access log, e.g. 回访 or 核实现场照片)"))]


def attachments_router(attachments: Attachments, max_bytes: int,
                       access: AccessLog | None = None) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["attachments"])

    @api.post("/attachments", status_code=201)
    async def upload_attachment(principal: AdapterDep,
                                file: Annotated[UploadFile, File(description="one file")]
                                ) -> JSONResponse:
        """Upload one picture, short video or PDF; stored once by content hash, encrypted (for
        intake until a ticket carries it, then under the citizen's key). Put the returned
        reference in a request's pictures / videos / attachments."""
        status, body = await uploaded(attachments, max_bytes, file)
        return JSONResponse(body, status_code=status)

    @api.get("/attachments/{sha256}", response_class=Response, responses={200: {
        "description": "the file's bytes, with its own media type (image/jpeg, video/mp4...)",
        "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}})
    def download_attachment(sha256: str, principal: AttachmentReaderDep,
                            why: WhyQuery = "") -> Response:
        """An attachment's bytes: to the unit handling a ticket that carries it, dispatchers,
        supervisors and the ticket's citizen (403 for anyone else; 410 once the citizen was
        erased)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ClientError("an attachment reference is 64 lower-case hex digits (SHA-256)")
        try:
            found = attachments.read(sha256, principal)
        except AttachmentDeniedError as exc:
            raise auth.ForbiddenError(str(exc)) from exc
        except AttachmentGoneError as exc:
            raise GoneError(str(exc)) from exc
        except AttachmentMissingError as exc:
            raise NotFoundError(str(exc)) from exc
        if access is not None:  # a photo is personal data: every read is in the access log
            access.record(principal, action=f"attachment:{sha256}", target=found.ticket_code,
                          why=why or "view attachment", via="http")
        return Response(found.content, media_type=found.meta.media_type,
                        headers={"Cache-Control": NO_STORE,
                                 "X-Content-Type-Options": "nosniff"})

    return api


def merges_router(merges: Merges, citizens: Citizens, clock: Clock,
                  access: AccessLog | None = None) -> APIRouter:
    api = APIRouter(prefix="/v1/tickets/{code}", tags=["dispatchers: merges and contact"])

    def run(action: Any) -> dict[str, Any]:
        try:
            return action()
        except TicketNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except (MergeError, TicketError, CaseError) as exc:
            raise ConflictError(str(exc)) from exc

    @api.get("/case")
    def case_of(code: str, principal: DispatcherDep) -> dict[str, Any]:
        """The case (并单) a ticket belongs to, with every linked code."""
        return run(lambda: merges.describe(code_from(code)))

    @api.post("/merge")
    def merge(code: str, body: MergeInto, principal: DispatcherDep) -> dict[str, Any]:
        """Merge this ticket by hand into the case of another (confirmed at once)."""
        into = code_from(body.into)
        return run(lambda: merges.merge(code_from(code), into=into, by=principal.sub,
                                        role=principal.role, at=clock.command_time(None)))

    @api.post("/merge/confirm")
    def confirm(code: str, principal: DispatcherDep) -> dict[str, Any]:
        """Confirm the detector's merge of this ticket."""
        return run(lambda: merges.confirm(code_from(code), by=principal.sub, role=principal.role,
                                          at=clock.command_time(None)))

    @api.post("/merge/undo")
    def undo(code: str, body: UndoMerge, principal: DispatcherDep) -> dict[str, Any]:
        """Undo this ticket's merge: it is handled on its own again, under its own code."""
        return run(lambda: merges.undo(code_from(code), by=principal.sub, role=principal.role,
                                       reason=body.reason, at=clock.command_time(None)))

    @api.get("/contact")
    def contact(code: str, principal: ContactReaderDep, response: Response,
                why: WhyQuery = "") -> dict[str, Any]:
        """The citizen's clear contact, for a callback (电话回访); 410 once erased. Every read
        is recorded in the hash-chained access log (who, role, ticket, when, ``why``). The
        answer is personal data: no cache may keep it (Cache-Control: private, no-store)."""
        found = contact_of(citizens, access, principal, code, why)
        response.headers["Cache-Control"] = NO_STORE
        return found

    return api


NO_STORE = "private, no-store"  # an answer that carries a citizen's personal data


def contact_of(citizens: Citizens, access: AccessLog | None, principal: auth.Principal,
               code: str, why: str) -> dict[str, Any]:
    """GET /v1/tickets/{code}/contact's work, for its route: blocking (the store, the key, the
    access log's commit). See `contacts_of`."""
    found = contacts_of(citizens, access, [(principal, code, why)])[0]
    if isinstance(found, BaseException):
        raise found
    return found


def contacts_of(citizens: Citizens, access: AccessLog | None,
                reads: list[tuple[auth.Principal, str, str]]
                ) -> list[dict[str, Any] | Exception]:
    """The work of several GET /v1/tickets/{code}/contact reads (reader, code as typed, why),
    for the route and its lean path (entrypoints/fast_contact.py, which hands it the reads
    that arrive together): blocking (the store, the keys, the access log's commit). Each
    answer, in order, is the contact's JSON or the error its read raises alone (400 a
    mistyped code, 404, 410). The contacts are read in one SELECT, and every contact given is
    first in the access log (who, role, ticket, why, via http), its rows in the reads' order,
    in one durable commit: nothing is answered before it."""
    found: list[dict[str, Any] | Exception] = []
    codes: list[str] = []
    for _principal, code, _why in reads:
        try:
            codes.append(code_from(code))
        except ClientError as exc:
            found.append(exc)
            codes.append("")
        else:
            found.append({})
    asked = [i for i, answer in enumerate(found) if not isinstance(answer, Exception)]
    identities = citizens.contacts([codes[i] for i in asked]) if asked else []
    given: list[int] = []
    for i, identity in zip(asked, identities, strict=True):
        if isinstance(identity, CitizenError):
            error: Exception = (GoneError(identity.reason) if identity.status == 410
                                else NotFoundError(identity.reason))
            error.__cause__ = identity
            found[i] = error
            continue
        found[i] = {"name": identity.name, "phone": identity.phone,
                    "address": identity.address, "organisation": identity.organisation,
                    "kind": identity.kind}
        given.append(i)
    if access is not None and given:
        try:
            access.record_many([(reads[i][0], "contact", codes[i], "http",
                                 reads[i][2] or "callback (电话回访)") for i in given])
        except Exception as exc:  # not logged: not answered
            for i in given:
                found[i] = exc
    return found
