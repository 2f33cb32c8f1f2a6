"""POST /v1/attachments, a channel adapter's upload, in front of the framework.

In the end-to-end load about one submission in three carries pictures, 1.7 each, uploaded
before the submission: half an upload a submission. Measured at that load (bench.intake_request_cost
--split --rate 25, py-spy), the uploads through FastAPI (its middleware, routing, dependency
solving with the form, anyio's thread hop) took about as many of the api process's samples
as the submissions themselves. Served as the app's outermost layer
(backbone.fast_routes.HotRoute: trace id, metrics and the route's body limit) when the
request is one the route would take: a channel adapter's token and a multipart form with a
`file` part, parsed by the same parser the route uses (Starlette's). The upload itself is the
route's (http_api.uploaded: the size check, the store's fsynced write in a worker thread, the
same answer). Anything else (no or a bad token, another content type, a form the parser
refuses or without its file) goes on to the FastAPI route with the bytes read, and is answered
exactly as before.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Scope

from backbone.fast_routes import HandOnError, HotRoute
from backbone.http import ServiceApp
from services.intake.entrypoints.fast_submit import adapter_of

PATH = "/v1/attachments"

# the form's file -> (status, the answer's JSON)
Upload = Callable[[Any], Awaitable[tuple[int, Any]]]


class FastUpload:
    def __init__(self, app: ServiceApp, upload: Upload):
        self.app = app
        self.upload = upload

    def __call__(self, scope: Scope, headers: dict[bytes, bytes], body: bytes,
                 trace_id: str) -> Awaitable[tuple[int, Any]] | None:
        if adapter_of(self.app, headers.get(b"authorization")) is None:
            return None
        if not headers.get(b"content-type", b"").lower().startswith(b"multipart/form-data"):
            return None
        return self._uploaded(scope, body)

    async def _uploaded(self, scope: Scope, body: bytes) -> tuple[int, Any]:
        try:
            form = await MultiPartParser(Headers(scope=scope), _once(body)).parse()
        except MultiPartException:
            raise HandOnError from None  # the route's 400 with the parser's reason
        try:
            file = form.get("file")
            if not isinstance(file, UploadFile):  # the route's 422 names the missing field
                raise HandOnError
            return await self.upload(file)
        finally:
            await form.close()


async def _once(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


def install(app: ServiceApp, upload: Upload, *, limit: int) -> None:
    """Served before the framework's layers; `limit`: the route's body limit (limits.py)."""
    app.serve_hot("POST", PATH, HotRoute(app, path=PATH, service=app.state.settings.service,
                                         limit=limit, serve=FastUpload(app, upload)))
