"""GET /v1/queues, the dispatchers' desk's poll, in front of the framework.

The desk polls the console's queues every half second (two requests a poll). Measured in the
dispatch process (/tmp script, sequential polls of an idle process), a poll cost 600-780 us of
CPU, most of it FastAPI's layers around a one-round-trip read (middleware, routing,
dependency solving, the request object, validating and serialising the answer). It is
served as the app's outermost layer (backbone.fast_routes.HotRoute: trace id, metrics, the
answer's bytes as they are) when the request is one it can vouch for: a reader's token
(dispatcher or supervisor) and, at most once each, a known `queue` and a plain `limit` in
1..1000. Everything else (no or a wrong token, another role, an unknown queue, a limit out of
range or not a plain number, a repeated or unknown-looking parameter) goes on to the FastAPI
route, which answers it exactly as before (401/403/400/422 with their reasons).

The answer is the route's, byte for byte: the same read (`LoopReads.queue`), the same dict,
serialised by the same pydantic serializer FastAPI uses for the route's return type
(`dict[str, Any]`, `serialize_json`), sent as those bytes.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import TypeAdapter
from starlette.types import Scope

from backbone.fast_routes import HotRoute, principal_of
from backbone.http import ServiceApp
from services.dispatch.adapters.loop_reads import LoopReads
from services.dispatch.application.projection import QUEUES

PATH = "/v1/queues"
READERS = ("dispatcher", "supervisor")
MAX_LIMIT = 1000
DEFAULT_LIMIT = 200
_ANSWER: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def queues_answer(counts: dict[str, int], tickets: list[dict[str, Any]]) -> dict[str, Any]:
    """What the route returns (the FastAPI route builds the same)."""
    return {"counts": {q: 0 for q in QUEUES} | counts, "tickets": tickets}


def _arguments(query_string: bytes) -> tuple[str | None, int] | None:
    """(queue, limit) when the query is one the route would take as is, else None."""
    queue, limit = None, DEFAULT_LIMIT
    if not query_string:
        return queue, limit
    seen = set()
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if key in seen:
            return None
        seen.add(key)
        if key == "queue":
            if value not in QUEUES:
                return None
            queue = value
        elif key == "limit":
            # ASCII digits, no sign, space or leading zero: what the route parses the same
            if not (value.isascii() and value.isdigit()) or value[0] == "0" or len(value) > 4:
                return None
            limit = int(value)
            if limit > MAX_LIMIT:
                return None
        else:
            return None  # the route ignores it; the framework answers, as before
    return queue, limit


class FastQueues:
    def __init__(self, app: ServiceApp, reads: LoopReads):
        self.app = app
        self.reads = reads

    def __call__(self, scope: Scope, headers: dict[bytes, bytes], body: bytes,
                 trace_id: str) -> Awaitable[tuple[int, Any]] | None:
        arguments = _arguments(scope.get("query_string", b""))
        if arguments is None or body:
            return None
        if principal_of(self.app, headers.get(b"authorization"), *READERS) is None:
            return None  # the route's 401/403 and reasons
        return self._answer(*arguments)

    async def _answer(self, queue: str | None, limit: int) -> tuple[int, Any]:
        counts, tickets = await self.reads.queue(queue, limit=limit)
        return 200, orjson.Fragment(_ANSWER.dump_json(queues_answer(counts, tickets),
                                                      by_alias=True))


def install(app: ServiceApp, reads: LoopReads) -> None:
    """Served before the framework's layers (a GET: no body is expected)."""
    app.serve_hot("GET", PATH, HotRoute(app, path=PATH, service=app.state.settings.service,
                                        limit=0, serve=FastQueues(app, reads)))
