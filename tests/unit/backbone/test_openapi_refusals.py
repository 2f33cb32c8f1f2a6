"""Each service's OpenAPI says what it answers (helper-120, schemathesis' status-code and
content-type checks against every service): every operation answered 401, 403, 400, 404, 409
or 429 that it did not document (only 200 and 422 were), and /metrics was documented as JSON
while it answers Prometheus' text format. backbone.http documents the refusals every operation
may answer and their body; a route whose refusals have another shape (Open311's) says so."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backbone.http import ClientError, create_app, require
from services.audit.settings import AuditSettings


def _app():
    app = create_app(settings=AuditSettings(environment="test"), title="t", description="t",
                     readiness=[])

    @app.get("/v1/secret", dependencies=[require("dispatcher")])
    async def secret() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/v1/open/{thing}")
    async def open_thing(thing: str) -> dict[str, str]:
        if thing != "known":
            raise ClientError(f"no {thing}")
        return {"thing": thing}

    return app


def test_the_refusals_each_operation_may_answer_are_documented():
    spec = _app().openapi()
    secret = spec["paths"]["/v1/secret"]["get"]["responses"]
    assert {"401", "403", "4XX", "503"} <= set(secret)
    refusal = {"$ref": "#/components/schemas/Refusal"}
    assert secret["401"]["content"]["application/json"]["schema"] == refusal
    public = spec["paths"]["/v1/open/{thing}"]["get"]["responses"]
    assert "401" not in public and {"4XX", "503"} <= set(public)
    assert spec["components"]["schemas"]["Refusal"]["required"] == ["error", "detail"]
    assert "text/plain" in spec["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    ready = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert "Refusal" not in str(ready)  # /readyz's 503 is its checks, not a refusal


def test_what_is_answered_conforms_to_what_is_documented():
    schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    calls = {("GET", "/v1/secret"): [{}, {"authorization": "Bearer not-a-token"}],
             ("GET", "/v1/open/{thing}"): [{}], ("GET", "/metrics"): [{}],
             ("GET", "/healthz"): [{}]}
    done = 0
    for result in schema.get_all_operations():
        op = result.ok()
        for headers in calls.get((op.method.upper(), op.path), []):
            for thing in ("known", "unknown"):
                case = op.Case(path_parameters={"thing": thing} if "{thing}" in op.path else {},
                               headers=headers)
                response = case.call()
                case.validate_response(response, checks=checks)
                done += 1
    assert done >= 10


def test_open311_documents_its_own_refusals():
    from services.intake.entrypoints.open311 import router

    app = _app()
    none: Any = None  # (the routes are documented, never called)
    app.include_router(router(none))
    spec = app.openapi()
    listed = spec["paths"]["/open311/v2/requests.{fmt}"]["get"]["responses"]["4XX"]
    assert listed["content"]["application/json"]["schema"]["type"] == "array"
    assert spec["paths"]["/v1/secret"]["get"]["responses"]["4XX"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/Refusal"}


def test_file_routes_document_the_type_they_answer():
    """The monthly ranking's CSV (both its routes) was documented as JSON and intake's
    attachment download as JSON: a generated client parsed them as JSON."""
    from services.analytics.entrypoints import http_api as analytics_api
    from services.analytics.entrypoints import pages
    from services.intake.entrypoints.http_api import attachments_router

    app = _app()
    none: Any = None  # (the routes are documented, never called)
    app.include_router(analytics_api.router(live=none, reports=none, hot=none, names=none,
                                            clock=none, window=none))
    app.include_router(pages.router(none))
    app.include_router(attachments_router(none, 1024))
    paths = app.openapi()["paths"]
    for path in ("/v1/reports/{month}.csv", "/reports/{month}.csv"):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == ["text/csv"]
    download = [p for p in paths if p.endswith("/attachments/{sha256}")]
    assert download and list(paths[download[0]]["get"]["responses"]["200"]["content"]) == \
        ["*/*"]
    assert analytics_api.csv_response("a,b\n", "2026-11").headers["content-type"] == \
        "text/csv; charset=utf-8"
