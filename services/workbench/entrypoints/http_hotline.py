"""The hotline operator's form (即接即办) and the knowledge base (知识库).

A call is entered through intake's own channel API as the 12345 hotline, with the operator's
token (role channel_adapter: intake records the operator as the adapter). While the operator
types, the form shows open tickets with the same words or at the same place (likely
duplicates), and the knowledge base's answers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.concurrency import run_in_threadpool
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, ConfigDict, Field

from backbone.http import NotFoundError
from services.workbench.adapters import readmodel
from services.workbench.adapters.knowledge_store import KnowledgeStore, as_json
from services.workbench.adapters.upstream import Services
from services.workbench.domain.knowledge import KnowledgeEntry
from services.workbench.entrypoints.deps import (
    AnyStaffDep,
    HotlineDep,
    OperatorDep,
    StaffDep,
    token_of,
)
from services.workbench.entrypoints.http_tickets import jsonable


class Call(BaseModel):
    """What the operator enters; personal data goes to intake only, never into our tables."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    call_id: str = Field(default="", max_length=64)
    caller_number: str = Field(min_length=3, max_length=30, pattern=r"^[0-9+\-\s]{3,30}$")
    caller_name: str = Field(default="", max_length=50)
    summary: str = Field(min_length=2, max_length=2000)
    address: str = Field(default="", max_length=200)
    category_hint: str = Field(default="", max_length=50)
    anonymous: bool = False
    knowledge_id: int | None = Field(default=None, description="the answer read out, if any")


def intake_request(call: Call, operator: str) -> dict[str, Any]:
    call_id = call.call_id or f"WB-{uuid.uuid4().hex[:12]}"
    body: dict[str, Any] = {
        "channel": "hotline_12345", "request_id": f"workbench-{call_id}", "call_id": call_id,
        "caller_number": call.caller_number, "operator_id": operator[:32],
        "summary": call.summary, "anonymous": call.anonymous,
        "occurred_at": datetime.now(UTC).isoformat()}
    if call.address:
        body["address"] = call.address
    if call.category_hint:
        body["category_hint"] = call.category_hint
    if call.caller_name and not call.anonymous:
        body["contact"] = {"name": call.caller_name, "phone": call.caller_number}
    return body


def router(*, pool: ConnectionPool, schema: str, services: Services,
           knowledge: KnowledgeStore) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["hotline"])

    @api.post("/hotline/calls", status_code=201)
    async def take_call(request: Request, principal: HotlineDep,
                        call: Annotated[Call, Body()]) -> dict[str, Any]:
        """Register the call as a ticket through intake (one code per request); with a knowledge
        base answer, the question is answered on the spot (解惑) and not dispatched."""
        body = intake_request(call, principal.sub)
        entry = None
        if call.knowledge_id is not None:  # 解惑: answered from the knowledge base, not dispatched
            entry = await run_in_threadpool(knowledge.get, call.knowledge_id)
            if entry is None:
                raise NotFoundError(f"知识库中没有第 {call.knowledge_id} 条（可能已停用）")
            body["answered_on_spot"] = {
                "answer": entry["answer"], "source": entry["source"],
                "source_date": entry["source_date"].isoformat(),
                "knowledge_ref": str(entry["id"])}
        answer = await services.post("intake", "/v1/requests", token=token_of(request), json=body)
        answer["knowledge"] = as_json(entry) if entry else None
        return answer

    @api.get("/hotline/similar")
    def similar(_: OperatorDep, text: Annotated[str, Query(max_length=2000)] = "",
                address: Annotated[str, Query(max_length=200)] = "",
                county: Annotated[str, Query(max_length=64)] = "") -> dict[str, Any]:
        """Open tickets like the one being typed: same words, same road or estate."""
        rows = readmodel.similar_open(pool, schema, text=text, address=address, county=county)
        return {"items": [jsonable(r) for r in rows]}

    @api.get("/knowledge")
    def search_knowledge(_: AnyStaffDep, q: Annotated[str, Query(max_length=100)] = "",
                         topic: Annotated[str, Query(max_length=20)] = "",
                         limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict[str, Any]:
        """知识库 search over questions, answers and keywords."""
        return {"items": [as_json(r) for r in knowledge.search(q, topic=topic, limit=limit)]}

    @api.get("/knowledge/{entry_id}")
    def knowledge_entry(entry_id: int, _: AnyStaffDep) -> dict[str, Any]:
        """One answer with its source and date."""
        found = knowledge.get(entry_id)
        if found is None:
            raise NotFoundError(f"知识库中没有第 {entry_id} 条")
        return as_json(found)

    @api.post("/knowledge", status_code=201)
    def add_knowledge(principal: StaffDep,
                      entry: Annotated[KnowledgeEntry, Body()]) -> dict[str, Any]:
        """Add an answer (dispatchers and supervisors keep the base)."""
        return as_json(knowledge.add(entry, by=principal.sub))

    @api.put("/knowledge/{entry_id}")
    def edit_knowledge(entry_id: int, principal: StaffDep,
                       entry: Annotated[KnowledgeEntry, Body()]) -> dict[str, Any]:
        """Correct an answer; its date says when it was last checked."""
        found = knowledge.update(entry_id, entry, by=principal.sub)
        if found is None:
            raise NotFoundError(f"知识库中没有第 {entry_id} 条")
        return as_json(found)

    @api.delete("/knowledge/{entry_id}")
    def retire_knowledge(entry_id: int, principal: StaffDep) -> dict[str, Any]:
        """Retire an outdated answer (kept, no longer shown)."""
        if not knowledge.retire(entry_id, by=principal.sub):
            raise NotFoundError(f"知识库中没有第 {entry_id} 条")
        return {"id": entry_id, "retired": True}

    return api
