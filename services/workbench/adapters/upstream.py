"""The services the workbench calls, server-side, with the signed-in user's own token.

Nothing here decides anything: every rule stays where it lives (dispatch decides whether a
unit may bounce back, sla whether an order is theirs, feedback what a callback means). A
refusal comes back as the same 4xx with the owning service's reason.
"""

from __future__ import annotations

import ssl
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf.json_format import MessageToDict
from minsheng.v1 import dispatch_api_pb2 as api
from minsheng.v1 import dispatch_api_pb2_grpc as api_grpc

from backbone.http import ClientError

GRPC_TO_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409, grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
}


NAMES_TTL_S = 300.0

# what the desk's user is told when a service cannot be reached (not its host or the exception)
SERVICE_ZH = {"intake": "受理服务", "dispatch": "派单服务", "sla": "时限与督办服务",
              "feedback": "回访服务", "audit": "审计台账", "identity": "登录服务"}


def unreachable(service: str) -> str:
    return f"{SERVICE_ZH.get(service, service)}暂时无法连接，请稍后再试"


class UpstreamError(ClientError):
    """Another service refused or failed; status and reason are theirs (5xx becomes 502)."""

    def __init__(self, status: int, service: str, detail: Any):
        super().__init__(detail)
        self.status = status if status < 500 or status == 503 else 502
        self.code = f"{service}_refused" if status < 500 else f"{service}_unavailable"


@dataclass
class Services:
    """HTTP clients of intake, sla, feedback, audit and identity, and dispatch's gRPC stub."""

    http: dict[str, httpx.AsyncClient]
    department: api_grpc.DepartmentServiceStub
    channel: grpc.aio.Channel
    timeout_s: float
    _names: tuple[float, dict[str, dict[str, str]]] | None = None

    async def close(self) -> None:
        for client in self.http.values():
            await client.aclose()
        await self.channel.close()

    # -- HTTP ----------------------------------------------------------------------------------
    async def call(self, service: str, method: str, path: str, *, token: str | None,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        headers = dict(headers or {})
        if token:
            headers["authorization"] = f"Bearer {token}"
        try:
            response = await self.http[service].request(method, path, headers=headers, **kwargs)
        except httpx.InvalidURL as exc:  # a caller's path segment no URL can carry
            raise ClientError(f"not a valid identifier in the path: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(503, service, unreachable(service)) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = body.get("detail", body) if isinstance(body, dict) else body
            except ValueError:
                detail = response.text[:300]
            raise UpstreamError(response.status_code, service, detail)
        if not response.content:
            return {}
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    async def get(self, service: str, path: str, *, token: str | None, **kw: Any) -> Any:
        return await self.call(service, "GET", path, token=token, **kw)

    async def post(self, service: str, path: str, *, token: str | None, **kw: Any) -> Any:
        return await self.call(service, "POST", path, token=token, **kw)

    # -- names -------------------------------------------------------------------------------------
    async def names(self, *, token: str) -> dict[str, dict[str, str]]:
        """Chinese names of units and categories (dispatch's registry and taxonomy), kept a few
        minutes: they change with a new registry version, not per request."""
        cached = self._names
        if cached is not None and time.monotonic() - cached[0] < NAMES_TTL_S:
            return cached[1]
        tree = await self.get("dispatch", "/v1/units", token=token)
        taxonomy = await self.get("dispatch", "/v1/taxonomy", token=token)
        units: dict[str, str] = {}

        def walk(nodes: list[dict[str, Any]]) -> None:
            for n in nodes:
                units[n["code"]] = n.get("name_zh") or n["code"]
                walk(n.get("children") or [])

        walk(tree.get("tree", []))
        categories = {c["code"]: c["name_zh"] for c in taxonomy.get("categories", [])}
        for c in taxonomy.get("categories", []):
            categories |= {sc["code"]: sc["name_zh"] for sc in c.get("subcategories", [])}
        found = {"units": units, "categories": categories}
        self._names = (time.monotonic(), found)
        return found

    # -- dispatch's DepartmentService ------------------------------------------------------------
    async def department_call(self, method: str, request: Any, *, token: str) -> dict[str, Any]:
        rpc = getattr(self.department, method)
        try:
            reply = await rpc(request, metadata=(("authorization", f"Bearer {token}"),),
                              timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            status = GRPC_TO_HTTP.get(exc.code(), 503)
            detail = exc.details() or exc.code().name if status < 500 else unreachable("dispatch")
            raise UpstreamError(status, "dispatch", detail) from exc
        return MessageToDict(reply, preserving_proto_field_name=True,
                             always_print_fields_with_no_presence=True)

    async def assignments(self, *, token: str, status: str = "") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page_token = ""
        for _ in range(20):  # at most 20 x 500 open assignments on one desk
            reply = await self.department_call("ListAssignments", api.ListAssignmentsRequest(
                status=status, page_size=500, page_token=page_token), token=token)
            found.extend(reply.get("assignments", []))
            page_token = reply.get("next_page_token", "")
            if not page_token:
                break
        return found

    async def unit_step(self, step: str, *, token: str, code: str, request_id: str = "",
                        **fields: Any) -> dict[str, Any]:
        """One of the unit's steps on its assignment, exactly as a department system does it."""
        requests = {"SignFor": api.SignForRequest, "BounceBack": api.BounceBackRequest,
                    "AddNote": api.AddNoteRequest, "Reply": api.ReplyRequest,
                    "RequestExtension": api.RequestExtensionRequest,
                    "RequestTransfer": api.RequestTransferRequest}
        message = requests[step](ticket_code=code, request_id=request_id or uuid.uuid4().hex,
                                 **fields)
        return await self.department_call(step, message, token=token)


def connect(settings: Any) -> Services:
    """Clients only; no connection is opened until the first call."""
    timeout = httpx.Timeout(settings.upstream_timeout_s)
    urls = {"intake": settings.intake_url, "dispatch": settings.dispatch_url,
            "sla": settings.sla_url, "feedback": settings.feedback_url,
            "audit": settings.audit_url, "identity": settings.identity_url}
    # MINSHENG_TLS_CA_FILE: the services answer over TLS (https:// URLs, dispatch's gRPC) with
    # certificates of this CA (docs/security.md, TLS on the wire)
    ca = getattr(settings, "tls_ca_file", "")
    verify: Any = ssl.create_default_context(cafile=ca) if ca else True
    http = {name: httpx.AsyncClient(base_url=url, timeout=timeout, verify=verify)
            for name, url in urls.items()}
    channel = (grpc.aio.secure_channel(settings.dispatch_grpc, grpc.ssl_channel_credentials(
        root_certificates=Path(ca).read_bytes())) if ca
        else grpc.aio.insecure_channel(settings.dispatch_grpc))
    return Services(http=http, department=api_grpc.DepartmentServiceStub(channel),
                    channel=channel, timeout_s=settings.upstream_timeout_s)
