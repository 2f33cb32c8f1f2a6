"""The platform's outside users, as tests play them: a channel adapter, a department system,
a citizen (through the notice the adapter delivers) and an auditor. Only public interfaces."""

from __future__ import annotations

import asyncio
import base64
import uuid
from typing import Any

import grpc
from aiokafka import AIOKafkaConsumer
from minsheng.v1 import (
    audit_api_pb2,
    audit_api_pb2_grpc,
    dispatch_api_pb2,
    dispatch_api_pb2_grpc,
    feedback_notices_pb2,
)

from tests.e2e.platform_harness import Platform, eventually
from tests.waiting import patient


def submit(platform: Platform, *, text: str, request_id: str | None = None,
           adapter: str = "web-portal", **extra: Any) -> dict[str, Any]:
    body = {"channel": "web", "request_id": request_id or uuid.uuid4().hex, "title": "市民反映",
            "body": text, **extra}
    with platform.client("intake", "channel_adapter", sub=adapter) as c:
        r = c.post("/v1/requests", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def history(platform: Platform, code: str) -> list[dict[str, Any]]:
    """The ticket's history from the audit ledger (HTTP), in order."""
    with platform.client("audit", "auditor", sub="auditor-e2e") as c:
        r = c.get(f"/v1/tickets/{code}/history")
    if r.status_code == 404:
        return []
    assert r.status_code == 200, r.text
    body = r.json()
    return body["entries"] if isinstance(body, dict) else body


def event_types(entries: list[dict[str, Any]]) -> list[str]:
    return [e["event_type"] for e in entries]


def wait_for_event(platform: Platform, code: str, event_type: str, timeout: float = 60):
    def seen():
        entries = history(platform, code)
        return entries if event_type in event_types(entries) else None

    return eventually(seen, timeout=timeout, what=f"{event_type} of {code} in the ledger")


def payload_of(entries: list[dict[str, Any]], event_type: str) -> dict[str, Any]:
    for e in entries:
        if e["event_type"] == event_type:
            return e["payload"]
    raise AssertionError(f"no {event_type}")


class DepartmentSystem:
    """A unit's own system: gRPC with its unit token."""

    def __init__(self, platform: Platform, unit: str):
        self.channel = grpc.insecure_channel(platform.grpc_target("dispatch"))
        self.stub = dispatch_api_pb2_grpc.DepartmentServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {platform.token('unit', unit=unit)}"),)

    def call(self, method: str, request: Any) -> Any:
        return getattr(self.stub, method)(request, metadata=self.metadata, timeout=20)

    def sign_for(self, code: str) -> Any:
        return self.call("SignFor", dispatch_api_pb2.SignForRequest(
            ticket_code=code, request_id=uuid.uuid4().hex))

    def reply(self, code: str, text: str, outcome: str = "resolved") -> Any:
        return self.call("Reply", dispatch_api_pb2.ReplyRequest(
            ticket_code=code, reply=text, outcome=outcome, request_id=uuid.uuid4().hex))

    def close(self) -> None:
        self.channel.close()


def replay_over_grpc(platform: Platform, code: str) -> list[Any]:
    with grpc.insecure_channel(platform.grpc_target("audit")) as channel:
        stub = audit_api_pb2_grpc.AuditServiceStub(channel)
        token = platform.token("auditor", sub="auditor-e2e")
        return list(stub.ReplayTicket(audit_api_pb2.ReplayTicketRequest(ticket_code=code),
                                      metadata=(("authorization", f"Bearer {token}"),),
                                      timeout=30))


async def _notice_for(platform: Platform, ticket_code: str, timeout: float) -> Any:
    consumer = AIOKafkaConsumer(platform.topic("citizen.notices"),
                                bootstrap_servers=platform.settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + patient(timeout)
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    notice = feedback_notices_pb2.CitizenNotice()
                    notice.ParseFromString(r.value)
                    if notice.ticket_code == ticket_code and notice.rating_token:
                        return notice
    finally:
        await consumer.stop()
    raise AssertionError(f"no citizen notice with a rating link for {ticket_code}")


def citizen_notice(platform: Platform, ticket_code: str, timeout: float = 60) -> Any:
    """What the channel adapter receives to tell the citizen (with the rating link)."""
    return asyncio.run(_notice_for(platform, ticket_code, timeout))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
