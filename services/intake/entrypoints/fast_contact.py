"""GET /v1/tickets/{code}/contact, the notifier's read for every SMS notice, in front of the
framework.

Measured alone (one api process, 800 reads, 4 in flight: bench/contact_cost.py), a
read through FastAPI cost ~1.5-2 ms of the process's CPU, and the route's own work (the
sealed contact read from the store, the key, the access log's commit) was ~1/6 of the
samples: the rest was the middleware stack, dependency solving, the response's serialising
and anyio's worker thread (its queue's wake-up alone ~18 %). In `make bench` about 3 in 4
full tickets get an SMS notice, so this read was as much of intake's CPU as the submission.

Served as a hot route (backbone.fast_routes.HotRoute: trace id, metrics, body limit) when
the request is one the route would take: a token of a role that may read contacts, and a
query the route's parameters accept as they are (`why` at most once, at most 300
characters). The work is the route's own (http_api.contact_of), in a worker thread of the
loop's; its errors (400 for a mistyped code, 404, 410) are answered by the app's handlers.
Anything else (no or a bad token, another role, a `why` given twice or too long) goes on to
the FastAPI route and is answered exactly as before (401/403/422).

Reads that arrive together are read together (session 16): one worker-thread hop, one SELECT
of their sealed contacts and one access-log commit for every read that arrives while the
batch before it is in the thread (the notifier asks for a round's SMS contacts at once). Each
read is still in the log, in arrival order, durably, before any of them is answered; each
answer or error is its own read's.

The path has a parameter: the route is installed with ServiceApp.serve_hot_where and
`code_in`, which accepts exactly the paths FastAPI's route matches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.datastructures import QueryParams
from starlette.types import Scope

from backbone import auth
from backbone.fast_routes import HotRoute, principal_of
from backbone.http import ServiceApp
from services.intake.entrypoints.http_api import NO_STORE

PATH = "/v1/tickets/{code}/contact"  # the route's template: its metrics' label
_PREFIX, _SUFFIX = "/v1/tickets/", "/contact"
READERS = ("dispatcher", "supervisor", "system")  # http_api.ContactReaderDep's roles
WHY_MAX = 300  # http_api.WhyQuery's max_length

# [(the reader, the code as in the path, why)] -> each read's JSON or its error, in order
# (blocking: a worker thread): http_api.contacts_of
ReadMany = Callable[[list[tuple[auth.Principal, str, str]]], list[Any]]


def code_in(path: str) -> str | None:
    """The {code} of /v1/tickets/{code}/contact as the router matches it (one segment, not
    empty), or None for any other path."""
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    code = path[len(_PREFIX):-len(_SUFFIX)]
    return code if code and "/" not in code else None


class Batches:
    """Reads handed to `read_many` together: those that arrive while a batch is in the worker
    thread wait for it and go as the next batch (one in the thread at a time)."""

    def __init__(self, read_many: ReadMany):
        self.read_many = read_many
        self._waiting: list[tuple[tuple[auth.Principal, str, str], asyncio.Future[Any]]] = []
        self._running = False
        self._task: asyncio.Task[None] | None = None  # (held: the loop keeps only a weak one)

    async def read(self, principal: auth.Principal, code: str, why: str) -> dict[str, Any]:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(((principal, code, why), answer))
        if not self._running:
            self._running = True
            self._task = asyncio.get_running_loop().create_task(self._drain())
        return await answer

    async def _drain(self) -> None:
        batch: list[tuple[tuple[auth.Principal, str, str], asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    found = await asyncio.to_thread(self.read_many, [r for r, _ in batch])
                except Exception as exc:  # (read_many answers its reads' own errors)
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(exc)
                    continue
                for (_, answer), one in zip(batch, found, strict=True):
                    if answer.done():  # (the request went away)
                        continue
                    if isinstance(one, BaseException):
                        answer.set_exception(one)
                    else:
                        answer.set_result(one)
        finally:
            self._running = False
            for _, answer in [*batch, *self._waiting]:  # (only if cancelled: the loop stops)
                if not answer.done():
                    answer.cancel()
            self._waiting = []


class FastContact:
    def __init__(self, app: ServiceApp, read_many: ReadMany):
        self.app = app
        self.batches = Batches(read_many)

    def __call__(self, scope: Scope, headers: dict[bytes, bytes], body: bytes,
                 trace_id: str) -> Any:
        code = code_in(scope["path"])
        if code is None:
            return None
        principal = principal_of(self.app, headers.get(b"authorization"), *READERS)
        if principal is None:
            return None
        whys = QueryParams(scope.get("query_string", b"")).getlist("why")
        if len(whys) > 1 or (whys and len(whys[0]) > WHY_MAX):
            return None  # the route's own reading of it (its 422, or the last value)
        return self._read(principal, code, whys[0] if whys else "")

    async def _read(self, principal: auth.Principal, code: str, why: str
                    ) -> tuple[int, dict[str, Any]]:
        return 200, await self.batches.read(principal, code, why)


def install(app: ServiceApp, read_many: ReadMany, *, limit: int) -> None:
    """`limit`: the route's body limit (limits.py)."""
    route = HotRoute(app, path=PATH, service=app.state.settings.service, limit=limit,
                     serve=FastContact(app, read_many),
                     headers=((b"cache-control", NO_STORE.encode()),))
    app.serve_hot_where("GET", lambda path: code_in(path) is not None, route)
