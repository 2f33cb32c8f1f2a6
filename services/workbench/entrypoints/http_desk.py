"""The unit's desk (签收、答复、退回、延期、转办申请、督办答复) and the callback queue (回访).

Each action is the owning service's own API called with the user's token: dispatch's
DepartmentService for the unit's steps, sla's for supervision orders, feedback's for callbacks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, File, Form, Request, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from backbone.http import ClientError
from services.workbench.adapters.attachments import AttachmentStore
from services.workbench.adapters.upstream import Services
from services.workbench.entrypoints.deps import StaffDep, UnitDep, token_of

RequestId = Field(default="", max_length=100, pattern=r"^[\x21-\x7e]*$",
                  description="retry key: the same id never acts twice")
Outcome = Literal["resolved", "explained", "not_allowed_by_policy", "needs_longer"]
MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024


class Retryable(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    request_id: str = RequestId


class Reason(Retryable):
    reason: str = Field(min_length=2, max_length=2000)


class Note(Retryable):
    note: str = Field(min_length=1, max_length=4000)


class Extension(Retryable):
    working_days: int = Field(ge=1, le=30)
    reason: str = Field(min_length=2, max_length=2000)


class TransferAsk(Retryable):
    to_unit: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=2, max_length=2000)


class OrderAnswer(Retryable):
    text: str = Field(min_length=2, max_length=4000)


CallOutcome = Literal["satisfied", "basically_satisfied", "dissatisfied", "unresolved",
                      "not_reached"]


class CallbackDone(Retryable):
    outcome: CallOutcome
    note: str = Field(default="", max_length=2000)


def callback_body(done: CallbackDone) -> dict[str, Any]:
    """One click -> what feedback's callback API expects."""
    body: dict[str, Any] = {"note": done.note}
    if done.outcome == "not_reached":
        body |= {"reached": False}
    elif done.outcome == "unresolved":
        body |= {"reached": True, "resolved": False, "satisfaction": "dissatisfied"}
    else:
        body |= {"reached": True, "resolved": done.outcome != "dissatisfied",
                 "satisfaction": done.outcome}
    if done.request_id:
        body["request_id"] = done.request_id
    return body


def router(*, services: Services, attachments: AttachmentStore) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["desk"])

    @api.get("/desk")
    async def desk(request: Request, principal: UnitDep, status: str = "") -> dict[str, Any]:
        """The unit's open assignments (or one status, or "all"), from dispatch."""
        token = token_of(request)
        items = await services.assignments(token=token, status=status)
        orders = await services.get("sla", "/v1/supervision-orders", token=token,
                                    params={"status": "open"})
        return {"unit": principal.unit, "assignments": items, "orders": orders["items"]}

    @api.post("/desk/{code}/sign-for")
    async def sign_for(code: str, request: Request, _: UnitDep,
                       body: Annotated[Retryable, Body()]) -> dict[str, Any]:
        """签收."""
        return await services.unit_step("SignFor", token=token_of(request), code=code,
                                        request_id=body.request_id)

    @api.post("/desk/{code}/bounce-back")
    async def bounce_back(code: str, request: Request, _: UnitDep,
                          body: Annotated[Reason, Body()]) -> dict[str, Any]:
        """退回 with the reason (dispatch decides whether it is still allowed)."""
        return await services.unit_step("BounceBack", token=token_of(request), code=code,
                                        request_id=body.request_id, reason=body.reason)

    @api.post("/desk/{code}/note")
    async def note(code: str, request: Request, _: UnitDep,
                   body: Annotated[Note, Body()]) -> dict[str, Any]:
        """办理进展."""
        return await services.unit_step("AddNote", token=token_of(request), code=code,
                                        request_id=body.request_id, note=body.note)

    @api.post("/desk/{code}/extension")
    async def extension(code: str, request: Request, _: UnitDep,
                        body: Annotated[Extension, Body()]) -> dict[str, Any]:
        """申请延期 (sla approves small ones at once; longer ones wait for a supervisor)."""
        return await services.unit_step("RequestExtension", token=token_of(request), code=code,
                                        request_id=body.request_id,
                                        working_days=body.working_days, reason=body.reason)

    @api.post("/desk/{code}/transfer-request")
    async def transfer_request(code: str, request: Request, _: UnitDep,
                               body: Annotated[TransferAsk, Body()]) -> dict[str, Any]:
        """申请转办 to another unit (a dispatcher decides)."""
        return await services.unit_step("RequestTransfer", token=token_of(request), code=code,
                                        request_id=body.request_id, to_unit=body.to_unit,
                                        reason=body.reason)

    @api.post("/desk/{code}/reply")
    async def reply(code: str, request: Request, principal: UnitDep,
                    text: Annotated[str, Form(min_length=2, max_length=3500)],
                    outcome: Annotated[Outcome, Form()],
                    request_id: Annotated[str, Form(max_length=100)] = "",
                    expected_by: Annotated[str, Form(max_length=10)] = "",
                    files: Annotated[list[UploadFile] | None, File()] = None) -> dict[str, Any]:
        """答复 with up to five attachments: kept here by content hash and named in the reply,
        since dispatch's Reply carries text only."""
        chosen: list[tuple[dict[str, Any], bytes]] = []
        for upload in (files or [])[:MAX_FILES + 1]:
            if not upload.filename:
                continue
            content = await upload.read(MAX_FILE_BYTES + 1)
            if len(content) > MAX_FILE_BYTES:
                raise ClientError(f"附件 {upload.filename[:60]} 超过 10 MB")
            chosen.append((attachments.checked(upload.filename, content), content))
        if len(chosen) > MAX_FILES:
            raise ClientError(f"最多上传 {MAX_FILES} 个附件")
        listed = "".join(f"\n〔附件：{file['name']}，{file['sha256'][:12]}〕" for file, _ in chosen)
        # the retry key is the caller's (the desk's form sends one per form): one made of the
        # unit, code, words and outcome named every later reply in the same words (after a
        # 重办, a transfer back, a send-back) a retry of the first, and dispatch answered it
        # with the first reply's ack ("closed", replayed): the new reply was never recorded.
        # Without a key a repeated reply is refused by dispatch as the wrong step (409).
        ack = await services.unit_step("Reply", token=token_of(request), code=code,
                                       request_id=request_id, reply=text + listed,
                                       outcome=outcome,
                                       # 需较长时间办理: the day it is expected done (required)
                                       expected_by=expected_by.strip())
        # kept only once dispatch took the reply on this unit's own assignment: a refused reply
        # (another unit's ticket, no such ticket, the wrong step) leaves no file behind that the
        # ticket's page would serve; under the code as dispatch spells it, as the page reads it
        stored_code = ack.get("ticket_code") or code.strip().upper()
        kept = [await attachments.put(code=stored_code, unit=principal.unit, file=file,
                                      content=content) for file, content in chosen]
        return {**ack, "attachments": kept}

    @api.post("/orders/{order_id}/answer")
    async def answer_order(order_id: str, request: Request, _: UnitDep,
                           body: Annotated[OrderAnswer, Body()]) -> dict[str, Any]:
        """答复督办单 (sla checks the order is addressed to this unit)."""
        return await services.post("sla", f"/v1/supervision-orders/{order_id}/answer",
                                   token=token_of(request), json={"text": body.text})

    @api.get("/callbacks")
    async def callbacks(request: Request, _: StaffDep, unit: str = "") -> dict[str, Any]:
        """今日回访: feedback's worklist, most urgent first."""
        return await services.get("feedback", "/v1/callbacks", token=token_of(request),
                                  params={"unit": unit, "limit": 200})

    @api.post("/callbacks/{code}")
    async def record_callback(code: str, request: Request, _: StaffDep,
                              body: Annotated[CallbackDone, Body()]) -> dict[str, Any]:
        """One click: the call's outcome, recorded by feedback (which reopens or closes)."""
        return await services.post("feedback", f"/v1/tickets/{code}/callbacks",
                                   token=token_of(request), json=callback_body(body))

    return api
