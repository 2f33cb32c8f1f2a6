"""POST /v1/requests, the hot endpoint, in front of the framework.

Measured in the api process (bench.intake_request_cost --split, py-spy), FastAPI's layers
around this one route (exception and exit-stack middleware, routing, dependency solving,
request objects) cost about as much CPU as deciding the submission itself; as a middleware
below the stack (sessions 6-8) the request still passed six ASGI layers and their send
wrappers. Now it is the app's outermost layer (backbone.fast_routes.HotRoute: trace id,
metrics and this route's body limit in the same coroutine) for the request that is well
formed: a channel adapter's token, a JSON body that is a valid ChannelInput. It checks the
token as the route's dependency does, validates the body with the same pydantic type, runs
the route's own code (http_api.submission) and answers errors with the app's own exception
handlers. Every request it cannot vouch for (no or a bad token, malformed JSON, an invalid
field, a body over the limit) goes on to the FastAPI route with the body it read, so
refusals keep exactly the route's answers (401/403/413/422 and their reasons).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.types import Scope

from backbone import auth
from backbone.fast_routes import JSON, HotRoute, principal_of
from backbone.http import ServiceApp
from services.intake.domain.channels import ChannelInput

PATH = "/v1/requests"

# (the adapter, its validated body, the trace id) -> (status, the answer's JSON)
Submit = Callable[[auth.Principal, Any, str], Awaitable[tuple[int, Any]]]


class FastSubmit:
    def __init__(self, app: ServiceApp, submit: Submit):
        self.app = app
        self.submit = submit
        self.inputs: TypeAdapter[Any] = TypeAdapter(ChannelInput)

    def __call__(self, scope: Scope, headers: dict[bytes, bytes], body: bytes,
                 trace_id: str) -> Awaitable[tuple[int, Any]] | None:
        principal = adapter_of(self.app, headers.get(b"authorization"))
        if principal is None or headers.get(b"content-type", b"").lower() not in JSON:
            return None
        try:
            payload = self.inputs.validate_python(orjson.loads(body))
        except (ValueError, ValidationError):  # the route says what is wrong with it
            return None
        return self.submit(principal, payload, trace_id)


def adapter_of(app: ServiceApp, authorization: bytes | None) -> auth.Principal | None:
    """The channel adapter the token names, or None (the route then answers 401/403)."""
    return principal_of(app, authorization, "channel_adapter")


def install(app: ServiceApp, submit: Submit, *, limit: int) -> None:
    """Served before the framework's layers; `limit`: the route's body limit (limits.py)."""
    app.serve_hot("POST", PATH, HotRoute(app, path=PATH, service=app.state.settings.service,
                                         limit=limit, serve=FastSubmit(app, submit)))
