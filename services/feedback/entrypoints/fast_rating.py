"""POST /v1/ratings/link, the citizen's rating, without the framework's per-request layers.

Every full ticket ends in one: measured in the feedback process (bench/feedback_cost.py,
py-spy), FastAPI's layers around this route (exception and exit-stack middleware, routing,
dependency solving, the request object, serialising the answer) cost about as much CPU as
checking the link and rating. This ASGI middleware, innermost (below tracing and metrics),
serves the request that is well formed: a JSON body that is a valid `LinkRating`. It runs
the route's own command (`Judging.rate_with_link_async`, its rate limit, context and stated
time as the route makes them) and answers errors with the app's own exception handlers.
Everything else, and every body it cannot vouch for (malformed JSON, an invalid field), goes
on to the FastAPI route with the body it read, so refusals keep exactly the route's answers
(422 and its reasons). The same approach as intake's POST /v1/requests (fast_submit.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import orjson
from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backbone.fast_routes import JSON, answer, read_body, replay

PATH = "/v1/ratings/link"
_ROUTE = SimpleNamespace(path=PATH)  # what the metrics name the route (backbone.http)

# (the request, its validated body) -> the route's answer
Rate = Callable[[Request, Any], Awaitable[Response]]


class FastRating:
    def __init__(self, app: ASGIApp, *, fastapi: FastAPI, body_type: Any, rate: Rate):
        self.app = app
        self.fastapi = fastapi
        self.body_type = body_type
        self.rate = rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        again = replay(body, receive)
        headers = dict(scope["headers"])
        payload = None
        if headers.get(b"content-type", b"").lower() in JSON:
            try:
                payload = self.body_type.model_validate(orjson.loads(body))
            except (ValueError, ValidationError):  # the route says what is wrong with it
                payload = None
        if payload is None:
            await self.app(scope, again, send)
            return
        scope["route"] = _ROUTE
        await answer(self.fastapi, scope, again, send, self.rate(Request(scope, again), payload))


def install(app: FastAPI, *, body_type: Any, rate: Rate) -> None:
    """Innermost: tracing and metrics (backbone.http) see its requests as the route's."""
    app.user_middleware.append(Middleware(FastRating, fastapi=app, body_type=body_type,
                                          rate=rate))
