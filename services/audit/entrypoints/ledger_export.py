"""`GET /v1/ledger/export?after=&limit=`: the ledger in bulk for a rebuild (auditors only).

The same entries and the same authorisation as `/v1/ledger/entries`, and the read is recorded
in the access log the same way; but one streamed response of binary frames
(adapters/ledger_export.py) instead of JSON pages of base64, so a reader can rebuild from the
whole ledger at the speed the database reads it. The first chunk is read while the access is
being recorded (and sent only once it is), each next one while the one before is being sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from backbone import auth
from backbone.http import require
from services.audit.adapters.access_log import AccessLog
from services.audit.adapters.ledger_export import CHUNK, FIRST_CHUNK, end_frame, frames, read_chunk

MEDIA_TYPE = "application/vnd.minsheng.ledger-frames"
AuditorDep = Annotated[auth.Principal, require("auditor")]
SEQ_MAX = 2**63 - 1  # ledger_seq is a bigint


def router(*, pool: Any, schema: str, access: AccessLog) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["audit"])

    def read(after: int, size: int) -> asyncio.Future[list[tuple[int, str, bytes]]]:
        return asyncio.ensure_future(run_in_threadpool(read_chunk, pool, schema, after, size))

    async def stream(ahead: asyncio.Future[list[tuple[int, str, bytes]]], size: int,
                     after: int, left: int | None) -> AsyncIterator[bytes]:
        try:
            while True:
                rows = await ahead
                if rows:
                    after = rows[-1][0] + 1
                    left = None if left is None else left - len(rows)
                more = len(rows) == size and left != 0
                if more:  # read the next chunk while this one goes out
                    size = min(CHUNK, left or CHUNK)
                    ahead = read(after, size)
                if rows:
                    yield await run_in_threadpool(frames, rows)
                if not more:
                    yield end_frame(after)
                    return
        finally:
            if not ahead.done():
                ahead.cancel()

    @api.get("/ledger/export", response_class=StreamingResponse,
             responses={200: {"content": {MEDIA_TYPE: {}},
                              "description": "length-prefixed frames, see adapters/ledger_export.py"}})
    async def ledger_export(who: AuditorDep, after: Annotated[int, Query(ge=0, le=SEQ_MAX)] = 0,
                            limit: Annotated[int | None, Query(ge=1, le=SEQ_MAX)] = None
                            ) -> StreamingResponse:
        """Entries from position `after` (the first ledger_seq to send) to the end of the
        ledger, or `limit` of them, as one stream of binary frames; the last frame names the
        cursor to continue from."""
        size = min(FIRST_CHUNK, limit or FIRST_CHUNK)  # a small first chunk: bytes flow sooner
        ahead = read(after, size)  # read while the access is recorded; sent only after that
        try:
            await run_in_threadpool(access.record, who, action="export",
                                    target=f"ledger[{after}:+{limit or 'all'}]", via="http")
        except BaseException:
            ahead.cancel()
            raise
        return StreamingResponse(stream(ahead, size, after, limit), media_type=MEDIA_TYPE)

    return api
