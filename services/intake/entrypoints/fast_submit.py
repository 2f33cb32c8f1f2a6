"""POST /v1/requests, the hot endpoint, without the framework's per-request layers.

Measured in the api process (bench.intake_request_cost --split, py-spy), FastAPI's layers
around this one route (exception and exit-stack middleware, routing, dependency solving,
request objects) cost about as much CPU as deciding the submission itself. This ASGI
middleware, innermost (below tracing, metrics and the body limit), serves the request that is
well formed: a channel adapter's token, a JSON body that is a valid ChannelInput. It reads the
body once, checks the token as the route's dependency does, validates the body with the same
pydantic type, runs the route's own code (http_api.submit) and answers errors with the app's
own exception handlers. Everything else, and every request it cannot vouch for (no or a bad
token, malformed JSON, an invalid field), goes on to the FastAPI route with the body it read,
so refusals keep exactly the route's answers (401/403/413/422 and their reasons).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter, ValidationError
from starlette.middleware import Middleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backbone import auth
from backbone.fast_routes import JSON, answer, read_body, replay
from services.intake.domain.channels import ChannelInput

PATH = "/v1/requests"
_ROUTE = SimpleNamespace(path=PATH)  # what the metrics name the route (backbone.http)

Submit = Callable[[auth.Principal, Any, str], Awaitable[Response]]


class FastSubmit:
    def __init__(self, app: ASGIApp, *, fastapi: FastAPI, submit: Submit):
        self.app = app
        self.fastapi = fastapi
        self.submit = submit
        self.inputs: TypeAdapter[Any] = TypeAdapter(ChannelInput)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        again = replay(body, receive)
        headers = dict(scope["headers"])
        principal = self._adapter(headers.get(b"authorization"))
        payload = None
        if principal is not None and headers.get(b"content-type", b"").lower() in JSON:
            try:
                payload = self.inputs.validate_python(json.loads(body))
            except (ValueError, ValidationError):  # the route says what is wrong with it
                payload = None
        if payload is None:
            await self.app(scope, again, send)
            return
        scope["route"] = _ROUTE
        trace_id = scope.get("state", {}).get("trace_id", "")
        await answer(self.fastapi, scope, again, send, self.submit(principal, payload, trace_id))

    def _adapter(self, authorization: bytes | None) -> auth.Principal | None:
        """The channel adapter the token names, or None (the route then answers 401/403)."""
        try:
            verifier = self.fastapi.state.verifier
            return verifier.verify(auth.bearer(authorization.decode() if authorization
                                               else None)).require("channel_adapter")
        except Exception:
            return None


def install(app: FastAPI, submit: Submit) -> None:
    """Innermost, below the body limit (entrypoints/limits.py): its reading is still counted."""
    app.user_middleware.append(Middleware(FastSubmit, fastapi=app, submit=submit))
