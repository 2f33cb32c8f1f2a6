"""Intake's access log of clear personal data: who read a citizen's contact or a photo, as
whom, which ticket, when and why (backbone/access_log.py: hash-chained, append-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool

from backbone import auth
from backbone.access_log import AccessLog
from backbone.http import require

OverseerDep = Annotated[auth.Principal, require("auditor", "supervisor")]


def router(access: AccessLog) -> APIRouter:
    api = APIRouter(prefix="/v1/access-log", tags=["access log"])

    @api.get("")
    async def reads(who: OverseerDep, after: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    ticket: Annotated[str, Query(max_length=30)] = "") -> dict[str, Any]:
        """Every read of clear personal data, oldest first, with its chain hashes."""
        rows = await run_in_threadpool(lambda: access.listing(after=after, limit=limit,
                                                              target=ticket.strip().upper()))
        return {"reads": rows, "next_after": rows[-1]["id"] if rows else after}

    @api.get("/verify")
    async def verify(who: OverseerDep) -> dict[str, Any]:
        """Walk the hash chain: ok, entries, head, and the rows changed, deleted or inserted."""
        return await run_in_threadpool(access.verify)

    return api
