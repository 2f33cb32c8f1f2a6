"""Hot routes (intake's POST /v1/requests, feedback's POST /v1/ratings/link) served in front
of FastAPI (`HotRoute`, installed with backbone.http.ServiceApp.serve_hot): read the body
once, hand it on to the framework's route when the request cannot be vouched for, answer an
error with the app's own exception handlers. The helpers above it serve a route's lean path
from inside the middleware stack (`answer`, `read_body`, `replay`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from backbone import auth, events
from backbone.http import LATENCY, REQUESTS, ServiceApp
from backbone.logs import trace_id_var

JSON = (b"application/json", b"application/json; charset=utf-8")


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: the route sees it too
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive, *, more_body: bool = False) -> Receive:
    """A `receive` that gives the body read already, then the connection's own messages
    (`more_body`: what was read is not the whole body, more follows from `receive`)."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": more_body}
        return await receive()

    return again


def exception_handler(app: FastAPI, exc: Exception) -> Any:
    """The app's handler for this exception, looked up by its class's MRO as Starlette does."""
    for kind in type(exc).__mro__:
        found = app.exception_handlers.get(kind)
        if found is not None:
            return found
    return None


async def answer(app: FastAPI, scope: Scope, receive: Receive, send: Send,
                 response: Awaitable[Response]) -> None:
    """Send the route's own `response`; an error it raises is answered by the app's handler
    for it (none: raised on, as the framework would)."""
    try:
        sent = await response
    except Exception as exc:
        handler = exception_handler(app, exc)
        if handler is None:
            raise
        sent = await handler(Request(scope, receive), exc)
    await sent(scope, receive, send)


# --- served in front of the framework ------------------------------------------------------

# (the request's scope, its headers (each name's first value), its body, its trace id) -> the
# route's answer, awaited:
# (status, JSON-able body); or None when the request is not one it can vouch for, which then
# goes to the framework's route, its body replayed, and is answered exactly as the route does
Serve = Callable[[Scope, dict[bytes, bytes], bytes, str], Awaitable[tuple[int, Any]] | None]

_JSON_TYPE = (b"content-type", b"application/json")


def first_headers(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by name, a header sent twice as its first value: as the
    framework's routes read them (Starlette's `Headers.get`), so that a hot route vouches for
    the request the route would see."""
    return dict(reversed(scope["headers"]))


def principal_of(app: ServiceApp, authorization: bytes | None, *roles: str
                 ) -> auth.Principal | None:
    """Whom a hot route's token names, when it is one of ``roles``; else None, and the
    framework's route answers the request with its 401/403 and reasons."""
    try:
        verifier = app.state.verifier
        return verifier.verify(auth.bearer(authorization.decode("latin-1") if authorization
                                           else None)).require(*roles)
    except Exception:
        return None


class HandOnError(Exception):
    """Raised by a hot route's work before it changed anything, when the request turns out
    to be one it cannot vouch for (a form without its file, say): the framework's route then
    answers it, from the same bytes, as it would have."""


class HotRoute:
    """One hot endpoint (intake's POST /v1/requests, feedback's POST /v1/ratings/link) served
    as the app's outermost ASGI layer (backbone.http.ServiceApp), in one plain coroutine: the
    trace id, the request metrics and the body limit that the middleware stack would apply,
    the route's own work (`serve`), and the answer's bytes sent as they are, with no
    middleware, router, dependency solving, Request or Response object per request.

    The framework's error handlers still answer a refusal (the app's `ClientError`, 429 with
    Retry-After, 503, 500 with the trace id): an exception from `serve` is answered by the
    app's handler for its class. A request it cannot vouch for (`serve` gives None: no or a
    wrong token, not JSON, an invalid field) and a body over `limit` go on to the framework
    with the bytes read so far, and are refused there as before (401/403/413/422, reasons)."""

    def __init__(self, app: ServiceApp, *, path: str, service: str, limit: int, serve: Serve,
                 headers: tuple[tuple[bytes, bytes], ...] = ()):
        """`headers`: sent with every answer of `serve`'s own (not with a refusal's, which its
        handler makes), as the framework's route sets them (e.g. Cache-Control)."""
        self.app = app
        self.headers = headers
        self.path = path
        self.service = service
        self.limit = limit
        self.serve = serve
        self.route = SimpleNamespace(path=path)  # how handlers and logs see the route
        self._latency = LATENCY.labels(service, path)  # children looked up once, not per request
        self._counts: dict[int, Any] = {}

    def _counted(self, status: int) -> Any:
        found = self._counts.get(status)
        if found is None:
            found = self._counts[status] = REQUESTS.labels(self.service, self.path, status)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = first_headers(scope)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self.app.framework(scope, receive, send)  # its 413, as before
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.limit or not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if size > self.limit:  # streamed past the limit: the framework's 413
            await self.app.framework(scope, replay(body, receive, more_body=True), send)
            return
        given = headers.get(b"traceparent")
        trace = (events.trace_id_from(given.decode("latin-1")) if given else None) \
            or events.new_trace_id()
        scope.setdefault("state", {})["trace_id"] = trace
        scope["app"] = self.app  # as the framework sets it (request.app in `serve`)
        began = time.perf_counter()
        work = self.serve(scope, headers, body, trace)
        if work is None:
            await self.app.framework(scope, replay(body, receive), send)
            return
        trace_id_var.set(trace)
        scope["route"] = self.route
        traced = (b"traceparent", events.traceparent(trace).encode())
        try:
            status, content = await work
        except HandOnError:
            await self.app.framework(scope, replay(body, receive), send)  # measured there
            return
        except Exception as exc:
            handler = exception_handler(self.app, exc)  # (create_app's: at least the 500's)
            if handler is None:
                raise
            refusal = await handler(Request(scope, replay(body, receive)), exc)
            status = refusal.status_code

            async def send_traced(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", ()), traced]
                await send(message)

            await refusal(scope, receive, send_traced)
        else:
            data = orjson.dumps(content)
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-length", str(len(data)).encode()), _JSON_TYPE, traced,
                *self.headers]})
            await send({"type": "http.response.body", "body": data})
        self._latency.observe(time.perf_counter() - began)
        self._counted(status).inc()
