"""Protection at the door: body size limits and 429 answers with Retry-After."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware

from backbone.http import error
from services.intake.application.submissions import RateLimitedError


class BodyTooLargeError(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on instead of calling it a 400."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimit:
    """ASGI middleware: refuse bodies over `limit` bytes on the given path prefixes, whether
    the client states a Content-Length or streams the body chunked."""

    def __init__(self, app: Any, *, limits: dict[str, int]):
        self.app = app
        self.limits = sorted(limits.items(), key=lambda kv: -len(kv[0]))

    def _limit(self, path: str) -> int | None:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        limit = self._limit(scope.get("path", "")) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLargeError(limit)
            return message

        started = False

        async def tracked_send(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except BodyTooLargeError:
            if not started:
                await _too_large(limit)(scope, receive, send)


def _too_large(limit: int) -> JSONResponse:
    return error(413, "too_large", f"request body over {limit} bytes")


def install(app: FastAPI, limits: dict[str, int]) -> None:
    # Innermost, below the backbone's tracing middleware: an error raised from `receive`
    # there would reach FastAPI's body parsing wrapped, and come out as a plain 400.
    app.user_middleware.append(Middleware(BodyLimit, limits=limits))

    @app.exception_handler(RateLimitedError)
    async def rate_limited(_: Request, exc: RateLimitedError) -> JSONResponse:
        return error(429, "rate_limited", exc.reason,
                     {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})
