"""POST /v1/ratings/link, the citizen's rating, in front of the framework.

Every full ticket ends in one: measured in the feedback process (bench/feedback_cost.py,
py-spy), FastAPI's layers around this route (exception and exit-stack middleware, routing,
dependency solving, the request object, serialising the answer) cost about as much CPU as
checking the link and rating. It is served as the app's outermost layer
(backbone.fast_routes.HotRoute: trace id, metrics and the body limit in one coroutine, the
answer's bytes sent as they are) when its body is well formed: a JSON body that is a valid
`LinkRating`. It runs the route's own command (`LinkRatings.rate`: `Judging.rate_with_link_async`,
its rate limit, context and stated time as the route makes them) and answers errors with the
app's own exception handlers. Every body it cannot vouch for (malformed JSON, an invalid
field) goes on to the FastAPI route with the body it read, so refusals keep exactly the
route's answers (422 and its reasons). The same approach as intake's POST /v1/requests
(fast_submit.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from pydantic import ValidationError
from starlette.types import Scope

from backbone.fast_routes import JSON, HotRoute
from backbone.http import MAX_BODY_BYTES, ServiceApp

PATH = "/v1/ratings/link"

# (the request, its validated body) -> the route's answer (its JSON)
Rate = Callable[[Request, Any], Awaitable[dict[str, Any]]]


class FastRating:
    def __init__(self, body_type: Any, rate: Rate):
        self.body_type = body_type
        self.rate = rate

    def __call__(self, scope: Scope, headers: dict[bytes, bytes], body: bytes,
                 trace_id: str) -> Awaitable[tuple[int, Any]] | None:
        if headers.get(b"content-type", b"").lower() not in JSON:
            return None
        try:
            payload = self.body_type.model_validate(orjson.loads(body))
        except (ValueError, ValidationError):  # the route says what is wrong with it
            return None
        return self._rated(Request(scope), payload)

    async def _rated(self, request: Request, payload: Any) -> tuple[int, Any]:
        return 201, await self.rate(request, payload)


def install(app: ServiceApp, *, body_type: Any, rate: Rate) -> None:
    """Served before the framework's layers (the route's body limit: the backbone's)."""
    app.serve_hot("POST", PATH, HotRoute(app, path=PATH, service=app.state.settings.service,
                                         limit=MAX_BODY_BYTES,
                                         serve=FastRating(body_type, rate)))
