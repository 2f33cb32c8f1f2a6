"""What the desk says when another service is down: Chinese, naming the part, no internals."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest
from grpc.aio import AioRpcError, Metadata

from services.workbench.adapters.upstream import Services, UpstreamError
from services.workbench.entrypoints.http_tickets import unavailable


def down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


class DeadStub:
    async def ListAssignments(self, request, **_):  # noqa: N802 (the gRPC method's name)
        raise AioRpcError(grpc.StatusCode.UNAVAILABLE, Metadata(), Metadata(),
                          "failed to connect to all addresses; last error: 127.0.0.1:50051")


def services() -> Services:
    client = httpx.AsyncClient(base_url="http://audit.invalid", transport=httpx.MockTransport(down))
    return Services(http={"audit": client, "sla": client}, department=DeadStub(), channel=None,
                    timeout_s=1.0)


def refused(call) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        asyncio.run(call)
    return caught.value


def test_an_unreachable_service_is_named_in_chinese_without_its_exception():
    exc = refused(services().get("audit", "/v1/tickets/X/history", token="t"))
    assert exc.status == 503 and exc.code == "audit_unavailable"
    assert exc.detail == "审计台账暂时无法连接，请稍后再试"
    exc = refused(services().assignments(token="t"))
    assert exc.status == 503 and exc.detail == "派单服务暂时无法连接，请稍后再试"
    assert "127.0.0.1" not in exc.detail


def test_the_ticket_page_names_the_part_it_cannot_show():
    exc = refused(services().get("audit", "/v1/tickets/X/history", token="t"))
    shown = unavailable("timeline", exc)
    assert shown == {"unavailable": True, "status": 503,
                     "detail": "审计台账暂时无法读取，请稍后再试"}
    assert unavailable("clocks", UpstreamError(500, "sla", "Internal Server Error"))["detail"] \
        == "办理时限暂时无法读取，请稍后再试"
    assert unavailable("orders", UpstreamError(403, "sla", "不是本单位的督办单"))["detail"] \
        == "督办记录无法读取：不是本单位的督办单"
    assert unavailable("feedback", UpstreamError(422, "feedback", [{"field": "x"}]))["detail"] \
        == "回访与评价无法读取（422）"
