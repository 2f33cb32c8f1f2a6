"""`GET /v1/ledger/export?after=&limit=&types=`: the ledger in bulk for a rebuild (auditors only).

The same entries and the same authorisation as `/v1/ledger/entries`, and the read is recorded
in the access log the same way; but one streamed response of binary frames
(adapters/ledger_export.py) instead of JSON pages of base64, so a reader can rebuild from the
whole ledger at the speed the database reads it. The first chunk is read while the access is
being recorded (and sent only once it is), each next one while the one before is being sent.

`types` (comma-separated event type names): only the entries of those types are sent, of the
range of ledger positions the export covers; `limit` then counts positions covered (entries
of every type), not entries sent, and the range ends at most at the ledger's end when the
export starts. Per range read, a mark frame tells the reader how far it has got and how many
entries it has been sent (adapters/ledger_export.py). Without `types`, the stream is unchanged."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from backbone import auth
from backbone.http import require
from services.audit.adapters import ledger_export as adapter
from services.audit.adapters.access_log import AccessLog
from services.audit.adapters.ledger_export import (
    CHUNK,
    FIRST_CHUNK,
    end_frame,
    frames,
    mark_frame,
    read_chunk,
)

MEDIA_TYPE = "application/vnd.minsheng.ledger-frames"
AuditorDep = Annotated[auth.Principal, require("auditor")]
SEQ_MAX = 2**63 - 1  # ledger_seq is a bigint
TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,99}")  # an event type's name, as the catalogue's
MAX_TYPES = 200
MARKS_HEADER = "x-ledger-marks"  # the stream is filtered by type and carries mark frames
Rows = list[tuple[int, str, bytes]]


def parse_types(text: str | None) -> tuple[str, ...] | None:
    """`types`' names, sorted and without repeats; None for no filter. A list that is empty,
    too long, or holds anything but type names is refused (422) with the reason."""
    if text is None:
        return None
    names = text.split(",")
    bad = [n for n in names if not TYPE_NAME.fullmatch(n)]
    if bad:
        raise HTTPException(422, f"types: {bad[0][:120]!r} is not an event type's name "
                                 "(comma-separated names, letters, digits, '_' or '.')")
    if len(set(names)) > MAX_TYPES:
        raise HTTPException(422, f"types: at most {MAX_TYPES} names")
    return tuple(sorted(set(names)))


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

    def read_range(lo: int, hi: int, types: tuple[str, ...]) -> asyncio.Future[Rows]:
        return asyncio.ensure_future(run_in_threadpool(adapter.read_range, pool, schema, lo, hi,
                                                       types))

    def first_range(after: int, limit: int | None, types: tuple[str, ...]
                    ) -> tuple[int, int, Rows]:
        """The range the export covers fixed (up to the ledger's end now), and its first
        part read: (end of the range, end of the first part, its entries)."""
        until = adapter.ledger_end(pool, schema)
        if limit is not None:
            until = min(until, after + limit)
        until = max(until, after)
        hi = min(until, after + FIRST_CHUNK)
        return until, hi, (adapter.read_range(pool, schema, after, hi, types) if hi > after
                           else [])

    async def filtered(first: asyncio.Future[tuple[int, int, Rows]], after: int,
                       types: tuple[str, ...]) -> AsyncIterator[bytes]:
        until, hi, rows = await first
        lo, ahead, sent = after, None, 0
        try:
            while hi > lo:
                if hi < until:  # read the next range while this one goes out
                    ahead = read_range(hi, min(until, hi + CHUNK), types)
                sent += len(rows)
                yield await run_in_threadpool(frames, rows, mark_frame(hi, sent))
                if ahead is None:
                    break
                lo, hi = hi, min(until, hi + CHUNK)
                rows, ahead = await ahead, None
            yield end_frame(hi)
        finally:
            if ahead is not None and not ahead.done():
                ahead.cancel()

    @api.get("/ledger/export", response_class=StreamingResponse,
             responses={200: {"content": {MEDIA_TYPE: {}},
                              "description": "length-prefixed frames, see adapters/ledger_export.py"}})
    async def ledger_export(who: AuditorDep, after: Annotated[int, Query(ge=0, le=SEQ_MAX)] = 0,
                            limit: Annotated[int | None, Query(ge=1, le=SEQ_MAX)] = None,
                            types: Annotated[str | None, Query(max_length=20_000)] = None
                            ) -> StreamingResponse:
        """Entries from position `after` (the first ledger_seq to send) to the end of the
        ledger, or `limit` of them, as one stream of binary frames; the last frame names the
        cursor to continue from. With `types` (comma-separated event type names), only the
        entries of those types, of the `limit` positions from `after` (to the ledger's end
        when the export starts); a type the ledger does not hold is simply not found."""
        wanted = parse_types(types)
        if wanted is None:
            size = min(FIRST_CHUNK, limit or FIRST_CHUNK)  # a small first chunk: bytes flow sooner
            ahead: asyncio.Future[Any] = read(after, size)  # read while the access is recorded
            body = stream(ahead, size, after, limit)
            target = f"ledger[{after}:+{limit or 'all'}]"
        else:
            ahead = asyncio.ensure_future(run_in_threadpool(first_range, after, limit, wanted))
            body = filtered(ahead, after, wanted)
            target = f"ledger[{after}:+{limit or 'all'}] types={','.join(wanted)}"
        try:  # the first part is sent only once the read is recorded
            await run_in_threadpool(access.record, who, action="export", target=target, via="http")
        except BaseException:
            ahead.cancel()
            raise
        return StreamingResponse(body, media_type=MEDIA_TYPE,
                                 headers=None if wanted is None else {MARKS_HEADER: "1"})

    return api
