"""What a hot route's ASGI middleware needs to serve a well-formed request itself, beside
FastAPI (intake's POST /v1/requests, feedback's POST /v1/ratings/link): read the body once,
hand it on to the framework's route when the middleware cannot vouch for it, and answer an
error with the app's own exception handlers."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

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


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body read already, then the connection's own messages."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
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
