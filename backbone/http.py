"""What every service's HTTP API shares: health, readiness, metrics, auth and errors.

Errors are always a JSON body `{"error": <code>, "detail": <reason>}` with a 4xx status when
the caller can fix it; an unexpected failure is logged with its trace id and answered 500
without internals.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import psycopg
from eventsourcing.persistence import DataError as StoreDataError
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backbone import auth, events, web_assets
from backbone.forwarded import trusted_networks
from backbone.logs import trace_id_var
from backbone.privacy import echo, mask_personal_data
from backbone.store import STORE_UNAVAILABLE, STORE_UNAVAILABLE_REASON

log = logging.getLogger(__name__)

REQUESTS = Counter("minsheng_http_requests_total", "HTTP requests", ["service", "route", "status"])
LATENCY = Histogram("minsheng_http_request_seconds", "HTTP request latency", ["service", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))

MAX_BODY_BYTES = 25 * 1024 * 1024

ReadinessCheck = Callable[[], Awaitable[tuple[bool, str]]]


class ClientError(Exception):
    """A request the caller can fix; subclasses set status and code."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFoundError(ClientError):
    status = 404
    code = "not_found"


class ConflictError(ClientError):
    status = 409
    code = "conflict"


class TooManyRequestsError(ClientError):
    status = 429
    code = "rate_limited"


def error(status: int, code: str, detail: Any, headers: dict[str, str] | None = None
          ) -> JSONResponse:
    return JSONResponse({"error": code, "detail": unrepeated(detail)}, status_code=status,
                        headers=headers)


def unrepeated(detail: Any) -> Any:
    """An error's reason with the personal data in it masked (a phone, an ID number, an
    e-mail...): a reason that quotes what the caller typed (a phone number typed for a ticket
    code, a unit or a filter) must not repeat it, since error bodies end up in logs, proxies
    and the caller's own error reports. `echo` is the way to quote a value; this is the net
    under every reason that did not use it. A reason is a string, or one per field."""
    if isinstance(detail, str):
        return mask_personal_data(detail)
    if isinstance(detail, list):
        return [{**d, "reason": mask_personal_data(d["reason"])}
                if isinstance(d, dict) and isinstance(d.get("reason"), str) else unrepeated(d)
                for d in detail]
    return detail


class TraceAndMeasure:
    """Trace id (the caller's W3C `traceparent`, or a new one) for logs and the answer, the
    body-size guard, and the request metrics. Plain ASGI rather than Starlette's
    BaseHTTPMiddleware, which costs a task and a stream copy per request on the hot path."""

    def __init__(self, app: ASGIApp, service: str, max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.service = service
        self.max_body_bytes = max_body_bytes
        # the metrics' labelled children, looked up once each (labels() per request was 2 %
        # of intake's api process under load, py-spy)
        self._latency: dict[str, Any] = {}
        self._counts: dict[tuple[str, int], Any] = {}

    def _measured(self, route: str | None, status: int, seconds: float) -> None:
        latency = self._latency.get(route or "other")
        if latency is None:
            latency = self._latency[route or "other"] = LATENCY.labels(self.service,
                                                                        route or "other")
        latency.observe(seconds)
        count = self._counts.get((route or "unmatched", status))
        if count is None:
            count = self._counts[(route or "unmatched", status)] = REQUESTS.labels(
                self.service, route or "unmatched", status)
        count.inc()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        trace = events.trace_id_from(headers.get("traceparent")) or events.new_trace_id()
        trace_id_var.set(trace)
        scope.setdefault("state", {})["trace_id"] = trace
        status = 500  # what the client gets if the app fails before answering

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append("traceparent", events.traceparent(trace))
            await send(message)

        began = time.perf_counter()
        try:
            length = headers.get("content-length")
            if length and length.isdigit() and int(length) > self.max_body_bytes:
                too_large = error(413, "too_large",
                                  f"request body over {self.max_body_bytes} bytes")
                await too_large(scope, receive, send_traced)
                return
            await self.app(scope, receive, send_traced)
        finally:
            self._measured(getattr(scope.get("route"), "path", None), status,
                           time.perf_counter() - began)


class ServiceApp(FastAPI):
    """FastAPI with hot routes in front (backbone.fast_routes.HotRoute): a request to one of
    them is served by it before any of the framework's layers; every other request, and any
    a hot route hands on, goes through the framework as usual (`framework`)."""

    hot: dict[tuple[str, str], Any]
    # hot routes of a path with a parameter: (method, does a path match, route), looked at in
    # order after the exact paths
    hot_where: tuple[tuple[str, Callable[[str], bool], Any], ...] = ()

    def serve_hot(self, method: str, path: str, route: Any) -> None:
        self.hot = {**getattr(self, "hot", {}), (method, path): route}

    def serve_hot_where(self, method: str, matches: Callable[[str], bool], route: Any) -> None:
        """A hot route for every path `matches` accepts (a path with a parameter, e.g.
        /v1/tickets/{code}/contact): `matches` must accept exactly the paths the framework's
        route takes, so a request it accepts would have reached that route."""
        self.hot_where = (*self.hot_where, (method, matches, route))

    def hot_route_for(self, method: str, path: str) -> Any:
        """The hot route that serves (method, path), or None: the framework's."""
        hot = getattr(self, "hot", None)
        route = hot.get((method, path)) if hot else None
        if route is None:
            for m, matches, candidate in self.hot_where:
                if m == method and matches(path):
                    return candidate
        return route

    async def framework(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            # HEAD is GET without the body (RFC 9110 9.3.2; load balancers and monitors probe
            # /healthz so): routed as GET, with the same checks and headers; the server
            # (uvicorn, which keeps its own scope's "HEAD") sends no body
            scope = {**scope, "method": "GET"}
        if scope["type"] == "http" and (getattr(self, "hot", None) or self.hot_where):
            route = self.hot_route_for(scope["method"], scope["path"])
            if route is not None:
                await route(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _principal(request: Request) -> auth.Principal:
    # async: no I/O here (the revocation list refreshes in the background), so no thread hop
    verifier = request.app.state.verifier
    return verifier.verify(auth.bearer(request.headers.get("authorization")))


PrincipalDep = Annotated[auth.Principal, Depends(_principal)]


def require(*roles: str) -> Any:
    """A dependency that admits a token with one of `roles` (401 without, 403 with another)."""

    async def check(principal: PrincipalDep) -> auth.Principal:
        return principal.require(*roles)

    check.roles = roles  # type: ignore[attr-defined]  # published as the operation's x-roles
    return Depends(check)


# What a 422 from `create_app`'s handlers looks like, documented in place of FastAPI's default
# (whose {"detail": [{"loc", "msg", "type"}]} these services never send)
INVALID_REQUEST_SCHEMA: dict[str, Any] = {
    "title": "InvalidRequest", "type": "object", "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string"},  # invalid_request, or an upstream's refusal code
        "detail": {"anyOf": [
            {"type": "string"},  # one reason (a handler's own check)
            {"type": "array", "items": {  # or one per field (the request's parsing)
                "type": "object", "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}}]}}}


# What every other refusal looks like ({"error": <code>, "detail": <reason>}), documented for
# every operation: 401 and 403 where a token is needed, and any other 4xx (400 bad_request /
# bad_time, 404, 409, 413, 429...) and 503 (nothing done: retry) anywhere. A route
# whose refusals have another shape (Open311's) documents its own "4XX" instead.
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Refusal", "type": "object", "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {}}}
_REFUSALS: dict[str, str] = {
    "4XX": "refused: the reason in detail (bad_request, not_found, conflict, too_large, "
           "rate_limited with Retry-After, ...)",
    "503": "unavailable: nothing was done, retry (Retry-After); `error` says why: "
           "`unavailable` (the store is out of reach), `facts_pending` (sla on the wall "
           "clock: the ticket's events are not all read yet)"}
_SECURED_REFUSALS: dict[str, str] = {
    "401": "unauthenticated: no bearer token, or one expired, revoked or for another service",
    "403": "forbidden: the token's role (or unit) may not do this"}


def _who_may(dependant: Any) -> tuple[bool, set[str] | None]:
    """(needs a token, the roles admitted or None when any token's role is) of one route."""
    secured, roles = False, None
    for dep in dependant.dependencies:
        if dep.call is _principal:
            secured = True
        if getattr(dep.call, "roles", None) is not None:
            secured = True
            found = set(dep.call.roles)
            roles = found if roles is None else roles & found
        inner_secured, inner_roles = _who_may(dep)
        secured = secured or inner_secured
        if inner_roles is not None:
            roles = inner_roles if roles is None else roles & inner_roles
    return secured, roles


def _reason(e: Any) -> Any:
    """A validation error's message, without the caller's value where pydantic quotes it
    (a discriminator's tag): error bodies must not repeat personal data (issue 18)."""
    if e.get("type") == "union_tag_invalid":
        ctx = e.get("ctx") or {}
        return (f"{ctx.get('discriminator', 'the tag')} {echo(ctx.get('tag', ''))} is not one "
                f"of the expected tags: {ctx.get('expected_tags', '')}")
    return e.get("msg")


def _api_routes(app: FastAPI) -> list[Any]:
    """Every API route with its full path (FastAPI >= 0.16x keeps included routers nested)."""
    from fastapi import routing

    try:
        from fastapi.openapi.utils import _get_api_route_for_openapi
    except ImportError:  # an older FastAPI: flat routes
        return [r for r in app.routes if isinstance(r, routing.APIRoute)]
    found = (_get_api_route_for_openapi(c) for c in routing.iter_route_contexts(app.routes))
    return [r for r in found if r is not None]


def _document(app: FastAPI) -> None:
    """The OpenAPI as these services answer: the 422 body they send, the refusals every
    operation may answer (ERROR_SCHEMA), and who may call each operation (`security`: a
    bearer token; `x-roles`: the roles `require` admits)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = INVALID_REQUEST_SCHEMA
                schemas.pop("ValidationError", None)  # only FastAPI's default referred to it
            schemas["Refusal"] = ERROR_SCHEMA
            refusal = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
            for route in _api_routes(app):
                secured, roles = _who_may(route.dependant)
                for method in route.methods or ():
                    operation = spec.get("paths", {}).get(route.path_format, {}).get(
                        method.lower())
                    if operation is None:
                        continue
                    answers = operation.setdefault("responses", {})
                    for status, said in (_REFUSALS | (_SECURED_REFUSALS if secured else {})
                                         ).items():
                        answers.setdefault(status, {"description": said, "content": refusal})
                    if not secured:
                        continue
                    operation["security"] = [{"bearer": []}]
                    if roles is not None:
                        operation["x-roles"] = sorted(roles)
            spec.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
                "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


def _without_otel() -> dict[str, Any]:
    """FastAPI >= 0.16x asks OpenTelemetry on every request whether a provider is configured
    (environment lookups each time: a tenth of intake's api process under load, py-spy). These
    services trace and measure themselves (TraceAndMeasure, /metrics), so where FastAPI has the
    option its telemetry is off; an older FastAPI has none to switch off."""
    if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False,
                          "operation_spans": False}}


def create_app(*, settings: Any, title: str, description: str,
               readiness: list[ReadinessCheck], version: str = "1",
               max_body_bytes: int = MAX_BODY_BYTES) -> ServiceApp:
    """`max_body_bytes`: the largest body any route may take (a declared Content-Length over
    it is refused at the door, 413); a service whose routes take more (intake's attachments)
    says so, and its routes keep their own, smaller limits."""
    app = ServiceApp(title=title, description=description, version=version,
                     docs_url=None, redoc_url=None,  # /docs offline: see offline_docs below
                     **_without_otel())
    app.state.settings = settings
    app.state.verifier = auth.verifier_for(settings)  # fails fast on missing keys
    app.state.readiness = readiness
    app.state.trusted_proxies = trusted_networks(getattr(settings, "trusted_proxies", ""))
    service = settings.service

    app.add_middleware(TraceAndMeasure, service=service, max_body_bytes=max_body_bytes)
    offline_docs(app)
    _document(app)

    @app.exception_handler(auth.AuthError)
    async def unauthenticated(_: Request, exc: auth.AuthError) -> JSONResponse:
        return error(401, "unauthenticated", str(exc), {"WWW-Authenticate": "Bearer"})

    @app.exception_handler(auth.ForbiddenError)
    async def forbidden(_: Request, exc: auth.ForbiddenError) -> JSONResponse:
        return error(403, "forbidden", str(exc))

    @app.exception_handler(ClientError)
    async def client_error(_: Request, exc: ClientError) -> JSONResponse:
        # e.g. Retry-After on a 429 (backbone/rate_limits.py)
        return error(exc.status, exc.code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = [{"field": ".".join(str(p) for p in e.get("loc", ())), "reason": _reason(e)}
                   for e in exc.errors()]
        return error(422, "invalid_request", reasons)

    @app.exception_handler(ValidationError)
    async def invalid_model(_: Request, exc: ValidationError) -> JSONResponse:
        # a model built inside a handler from the caller's data (not FastAPI's own parsing)
        reasons = [{"field": ".".join(str(p) for p in e.get("loc", ())), "reason": _reason(e)}
                   for e in exc.errors()]
        return error(422, "invalid_request", reasons)

    @app.exception_handler(psycopg.DataError)
    @app.exception_handler(StoreDataError)
    async def unstorable(_: Request, exc: Exception) -> JSONResponse:
        # a value PostgreSQL cannot hold (a NUL character, a number out of range): the
        # caller's data, refused with the reason instead of a 500 (the transaction rolled back)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return error(422, "invalid_request", f"a value cannot be stored: {reason[:200]}")

    async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL restarting or out of reach: nothing was acknowledged, so the caller may
        # retry (with its idempotency key) once the store is back; a 503, never a 500.
        log.warning("store unavailable on %s: %s", request.url.path, type(exc).__name__)
        return error(503, "unavailable", STORE_UNAVAILABLE_REASON, {"Retry-After": "2"})

    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, store_unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # a body found too large while it streamed (no Content-Length) answers as the
        # declared one does
        code = "too_large" if exc.status_code == 413 else "http_error"
        return error(exc.status_code, code, exc.detail)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return error(500, "internal", f"unexpected error; trace id {trace_id_var.get()}")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["operations"],
             responses={503: {"description": "not ready: `checks` says which connection fails"}})
    async def readyz() -> JSONResponse:
        """Ready only when this service's Kafka and PostgreSQL connections work."""
        results = {}
        ok = True
        for check in app.state.readiness:
            try:
                good, detail = await check()
            except Exception as exc:
                good, detail = False, f"{type(exc).__name__}: {exc}"
            results[getattr(check, "__name__", "check")] = detail
            ok = ok and good
        return JSONResponse({"ready": ok, "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus metrics."""
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    return app


def offline_docs(app: FastAPI) -> None:
    """/docs and the vendored front-end files served locally, never from a CDN."""
    web_assets.serve_vendored_and_docs(app)
