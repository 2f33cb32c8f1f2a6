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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PATH = "/v1/ratings/link"
_ROUTE = SimpleNamespace(path=PATH)  # what the metrics name the route (backbone.http)
_JSON = (b"application/json", b"application/json; charset=utf-8")

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
        body = await _body(receive)
        again = _replay(body, receive)
        headers = dict(scope["headers"])
        payload = None
        if headers.get(b"content-type", b"").lower() in _JSON:
            try:
                payload = self.body_type.model_validate(orjson.loads(body))
            except (ValueError, ValidationError):  # the route says what is wrong with it
                payload = None
        if payload is None:
            await self.app(scope, again, send)
            return
        scope["route"] = _ROUTE
        request = Request(scope, again)
        try:
            response = await self.rate(request, payload)
        except Exception as exc:
            handler = _handler(self.fastapi, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, again, send)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the route sees it too
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read already, then the connection's own messages."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


def _handler(app: FastAPI, exc: Exception) -> Any:
    """The app's handler for this exception, looked up by its class's MRO as Starlette does."""
    for kind in type(exc).__mro__:
        found = app.exception_handlers.get(kind)
        if found is not None:
            return found
    return None


def install(app: FastAPI, *, body_type: Any, rate: Rate) -> None:
    """Innermost: tracing and metrics (backbone.http) see its requests as the route's."""
    app.user_middleware.append(Middleware(FastRating, fastapi=app, body_type=body_type,
                                          rate=rate))
