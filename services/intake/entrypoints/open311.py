"""Open311 GeoReport v2 under /open311/v2: discovery, services, requests, tokens; JSON and XML.

Our ticket code is the `service_request_id`; the `token` of a new request is its ticket id
(GET tokens/{token} answers with the code). `api_key` is a channel-adapter token. Reading is
public, as the standard has it, and shows only masked text and places rounded to ~100 m.
Errors are the standard's list of {code, description} with the HTTP status.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from starlette.datastructures import FormData

from backbone import auth
from backbone.clock import Clock, ClockTimeError
from backbone.privacy import echo
from backbone.public_privacy import mask_for_public
from backbone.store import EventContext
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.application.submissions import (
    RateLimitedError,
    SubmissionRefusedError,
    Submissions,
)
from services.intake.domain.channels import (
    ChannelInputError,
    coordinate,
    parse_channel_input,
    to_ticket_draft,
)
from services.intake.domain.open311 import Open311InputError, ServiceCatalogue
from services.intake.domain.ticket_code import InvalidTicketCodeError, canonical_code
from services.intake.entrypoints.open311_format import Open311Error, render, render_error

PREFIX = "/open311/v2"
SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_SPAN = timedelta(days=90)
_YEAR_ONE = datetime(1, 1, 2, tzinfo=UTC)  # the earliest time any offset can still be taken from
_ATTRIBUTE = re.compile(r"^attribute\[([A-Za-z0-9_\-]{1,50})\](?:\[\])?$")
_FORM_FIELDS = {"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string",
                "address_id", "email", "device_id", "account_id", "first_name", "last_name",
                "phone", "description", "media_url"}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise Open311Error(404, f"format {echo(fmt)} is not offered; use .json or .xml")
    return fmt


def _w3c(value: str | None, name: str, fmt: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime like 2025-11-27T00:00:00Z",
                           fmt) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class Open311:
    def __init__(self, *, submissions: Submissions, index: TicketIndex,
                 catalogue: ServiceCatalogue, clock: Clock, verifier: auth.Verifier,
                 jurisdiction: str):
        self.submissions = submissions
        self.index = index
        self.catalogue = catalogue
        self.clock = clock
        self.verifier = verifier
        self.jurisdiction = jurisdiction

    def check_jurisdiction(self, value: str | None, fmt: str) -> None:
        if value and value != self.jurisdiction:
            raise Open311Error(404, f"jurisdiction_id {echo(value)} not found; this endpoint serves "
                                    f"{self.jurisdiction}", fmt)

    def adapter(self, api_key: str | None, fmt: str) -> auth.Principal:
        if not api_key:
            raise Open311Error(403, "api_key is required to submit a request", fmt)
        try:
            return self.verifier.verify(api_key).require("channel_adapter")
        except (auth.AuthError, auth.ForbiddenError) as exc:
            raise Open311Error(403, f"api_key is not valid: {exc}", fmt) from exc

    # -- reading -------------------------------------------------------------------------
    def request_view(self, row: dict[str, Any]) -> dict[str, Any]:
        closed = row.get("status") in ("rejected", "closed")
        lat, lon = row.get("lat"), row.get("lon")
        notes = row.get("reason_text") if row.get("status") == "rejected" else None
        if row.get("primary_code") and row.get("primary_code") != row.get("code"):
            notes = f"与 {row['primary_code']} 合并处理（并单）"
        return {
            "service_request_id": row["code"], "status": "closed" if closed else "open",
            "status_notes": notes, "service_name": self.catalogue.name_of(row.get("category")),
            # a public read (no token, as the standard has it): masked as the hall masks
            "service_code": row.get("category"),
            "description": mask_for_public(row.get("text_masked") or "") or None,
            "agency_responsible": row.get("unit"), "service_notice": None,
            "requested_datetime": _iso(row.get("submitted_at")),
            "updated_datetime": _iso(row.get("updated_at") or row.get("submitted_at")),
            "expected_datetime": None,
            "address": mask_for_public(row["address_masked"]) if row.get("address_masked") else None,
            "address_id": None, "zipcode": None,
            "lat": round(lat, 3) if lat is not None else None,
            "long": round(lon, 3) if lon is not None else None, "media_url": None,
        }

    def search(self, params: dict[str, str], fmt: str) -> list[dict[str, Any]]:
        codes = _split(params.get("service_request_id"))
        if codes:  # the standard: this overrides every other filter
            try:
                return [self.request_view(r) for r in self.index.by_codes(
                    [canonical_code(c) for c in codes])]
            except InvalidTicketCodeError as exc:
                raise Open311Error(400, str(exc), fmt) from exc
        start = _w3c(params.get("start_date"), "start_date", fmt)
        end = _w3c(params.get("end_date"), "end_date", fmt)
        if start and end and end - start > MAX_SPAN:
            raise Open311Error(400, "start_date and end_date may not span more than 90 days", fmt)
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date", fmt)
        if not start and not end:
            end = datetime.now(UTC)
        if not start and end:  # (an end_date in the first 90 days of year 1: from year 1 on)
            start = end - MAX_SPAN if end - _YEAR_ONE > MAX_SPAN else _YEAR_ONE
        statuses = _split(params.get("status"))
        if any(s not in ("open", "closed") for s in statuses):
            raise Open311Error(400, "status must be open, closed or both (comma separated)", fmt)
        rows = self.index.search(categories=_split(params.get("service_code")) or None,
                                 start=start, end=end, statuses=statuses or None)
        return [self.request_view(r) for r in rows]

    # -- submitting ----------------------------------------------------------------------
    def channel_input(self, form: FormData, fmt: str) -> dict[str, Any]:
        attributes: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise Open311Error(400, f"{key}: files are not taken here; give a media_url", fmt)
            match = _ATTRIBUTE.match(key)
            if match:
                attributes.setdefault(match.group(1), []).append(value)
            elif key not in _FORM_FIELDS:
                raise Open311Error(400, f"unknown parameter {echo(key)}", fmt)
        fields = {k: v.strip() for k, v in form.items() if k in _FORM_FIELDS and isinstance(v, str)}
        code = fields.get("service_code")
        if not code:
            raise Open311Error(400, "service_code is required", fmt)
        service = self.catalogue.get(code)
        if service is None:
            raise Open311Error(404, f"service_code {echo(code)} not found", fmt)
        if not fields.get("description"):
            raise Open311Error(400, "description is required", fmt)
        has_place = (fields.get("lat") and fields.get("long")) or fields.get("address_string") \
            or fields.get("address_id")
        if not has_place:
            raise Open311Error(400, "a location is required: lat and long, or address_string", fmt)
        try:
            readable = service.check_attributes(attributes)
        except Open311InputError as exc:
            raise Open311Error(400, str(exc), fmt) from exc
        description = fields["description"]
        if readable:
            description += "（" + "；".join(f"{k}: {v}" for k, v in readable.items()) + "）"
        name = (fields.get("last_name", "") + fields.get("first_name", "")).strip() or None
        contact = {k: v for k, v in (("name", name), ("phone", fields.get("phone")),
                                     ("email", fields.get("email"))) if v}
        key = hashlib.sha256(repr(sorted(form.multi_items())).encode()).hexdigest()[:40]
        payload: dict[str, Any] = {
            "channel": "open311", "request_id": f"form-{key}", "service_code": code,
            "description": description, "address_string": fields.get("address_string") or None,
            "media_url": fields.get("media_url") or None, "category_hint": code,
        }
        for name_, field in (("lat", "lat"), ("long", "long")):
            if fields.get(field):
                try:
                    payload[name_] = float(coordinate(fields[field]))
                except ValueError:
                    raise Open311Error(400, f"{field} must be a decimal number like 32.89",
                                       fmt) from None
        if contact:
            payload["contact"] = contact
        return payload

    def submit(self, form: FormData, fmt: str, trace_id: str) -> list[dict[str, Any]]:
        self.check_jurisdiction(form.get("jurisdiction_id"), fmt)  # type: ignore[arg-type]
        principal = self.adapter(form.get("api_key"), fmt)  # type: ignore[arg-type]
        payload = self.channel_input(form, fmt)
        try:
            draft = to_ticket_draft(parse_channel_input(payload))
            now = self.clock.command_time(None)
            result = self.submissions.submit(
                draft, adapter_id=principal.sub, now=now,
                context=EventContext(trace_id=trace_id, actor_role="channel_adapter",
                                     actor_id=principal.sub))
        except ChannelInputError as exc:
            raise Open311Error(400, exc.reason, fmt) from exc
        except ClockTimeError as exc:
            raise Open311Error(400, exc.detail, fmt) from exc
        except RateLimitedError as exc:
            raise Open311Error(429, exc.reason, fmt) from exc
        except SubmissionRefusedError as exc:
            raise Open311Error(400, exc.reason, fmt) from exc
        notice = ("已受理，请记住诉求码" if result.status == "accepted"
                  else f"未受理：{result.reason_text}")
        return [{"service_request_id": result.code, "token": str(result.ticket_id),
                 "service_notice": notice, "account_id": None}]


def router(open311: Open311) -> APIRouter:
    # GeoReport v2's own refusals ([{code, description}], in the request's format), in place
    # of backbone's {error, detail}
    api = APIRouter(prefix=PREFIX, tags=["Open311 GeoReport v2"], responses={"4XX": {
        "description": "GeoReport v2 errors: [{code, description}]",
        "content": {"application/json": {"schema": {"type": "array", "items": {
            "type": "object", "required": ["code", "description"],
            "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}},
            "text/xml": {}}}})

    @api.get("/discovery.{fmt}")
    def discovery(fmt: str, request: Request) -> Response:
        """Service discovery: where this endpoint lives and what it speaks."""
        fmt = _format(fmt)
        base = str(request.base_url).rstrip("/") + PREFIX + "/"
        return render(fmt, "discovery", {
            "changeset": "2025-11-27T00:00:00Z", "contact": "12345 政务服务便民热线",
            "key_service": "向 12345 平台申请渠道接入令牌（api_key）",
            "endpoints": [{"specification": SPEC, "url": base, "changeset": "2025-11-27T00:00:00Z",
                           "type": "production", "formats": ["application/json", "text/xml"]}]})

    @api.get("/services.{fmt}")
    def services(fmt: str, jurisdiction_id: str | None = None) -> Response:
        """The service list: one per category a citizen can report."""
        fmt = _format(fmt)
        open311.check_jurisdiction(jurisdiction_id, fmt)
        return render(fmt, "services", [s.summary() for s in open311.catalogue.services])

    @api.get("/services/{service_code}.{fmt}")
    def service_definition(service_code: str, fmt: str,
                           jurisdiction_id: str | None = None) -> Response:
        """A service's definition: the attributes a request may or must carry."""
        fmt = _format(fmt)
        open311.check_jurisdiction(jurisdiction_id, fmt)
        service = open311.catalogue.get(service_code)
        if service is None:
            raise Open311Error(404, f"service_code {echo(service_code)} not found", fmt)
        return render(fmt, "service_definition", service.definition())

    @api.post("/requests.{fmt}", status_code=201, responses={
        400: {"description": "[{code, description}]: a missing or wrong field"},
        403: {"description": "api_key missing or not a channel adapter's token"},
        404: {"description": "unknown service_code, jurisdiction_id or format"},
        429: {"description": "too many from this adapter or this citizen"}})
    async def create_request(fmt: str, request: Request) -> Response:
        """Submit a request (form-encoded, as the standard has it); answers its code."""
        fmt = _format(fmt)
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in _FORM_TYPES:  # Starlette reads any other body as an empty form
            raise Open311Error(400, "the request must be form-encoded (application/x-www-form-"
                                    "urlencoded or multipart/form-data), as GeoReport v2 posts "
                                    "it", fmt)
        try:
            form = await request.form()
        except Exception as exc:  # a broken form body is the client's to fix
            raise Open311Error(400, f"the body is not a valid form: {type(exc).__name__}",
                               fmt) from exc
        answer = await run_in_threadpool(open311.submit, form, fmt, request.state.trace_id)
        return render(fmt, "service_requests", answer, status=201)

    @api.get("/requests.{fmt}")
    async def list_requests(fmt: str, request: Request) -> Response:
        """Requests by id, service code, date range (at most 90 days) and status."""
        fmt = _format(fmt)
        params = dict(request.query_params)
        if any("\x00" in k or "\x00" in v for k, v in params.items()):
            raise Open311Error(400, "a parameter cannot contain a NUL character", fmt)
        open311.check_jurisdiction(params.get("jurisdiction_id"), fmt)
        found = await run_in_threadpool(open311.search, params, fmt)
        return render(fmt, "service_requests", found)

    @api.get("/requests/{service_request_id}.{fmt}")
    async def get_request(service_request_id: str, fmt: str,
                          jurisdiction_id: str | None = None) -> Response:
        """One request by its code (a mistyped code: 400 with the reason)."""
        fmt = _format(fmt)
        open311.check_jurisdiction(jurisdiction_id, fmt)
        try:
            code = canonical_code(service_request_id)
        except InvalidTicketCodeError as exc:
            raise Open311Error(400, str(exc), fmt) from exc
        row = await run_in_threadpool(open311.index.by_code, code)
        if row is None:
            raise Open311Error(404, f"service_request_id {code} not found", fmt)
        return render(fmt, "service_requests", [open311.request_view(row)])

    @api.get("/tokens/{token}.{fmt}")
    async def get_token(token: str, fmt: str, jurisdiction_id: str | None = None) -> Response:
        """The service_request_id a token stands for."""
        fmt = _format(fmt)
        open311.check_jurisdiction(jurisdiction_id, fmt)
        try:
            ticket_id = str(uuid.UUID(token))
        except ValueError:
            raise Open311Error(404, f"token {echo(token)} not found", fmt) from None
        row = await run_in_threadpool(open311.index.by_id, ticket_id)
        if row is None or not row.get("code"):
            raise Open311Error(404, f"token {echo(token)} not found (yet)", fmt)
        return render(fmt, "service_requests", [{"service_request_id": row["code"],
                                                 "token": token}])

    return api


def install_errors(app: FastAPI) -> None:
    @app.exception_handler(Open311Error)
    async def open311_error(_: Request, exc: Open311Error) -> Response:
        return render_error(exc)
