"""The SMS gateway port, through the running service and a real local HTTP gateway.

A fake city SMS gateway (aiohttp, 127.0.0.1, free port) records what it receives; intake is
configured with MINSHENG_INTAKE_SMS_URL pointing at it. A citizen asks for a code, the gateway
gets the SMS, the citizen verifies with the code read from that SMS and lists their tickets.
Then the gateway fails in each way it can: the citizen gets a 503 with a reason, never a 500.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from backbone import events
from services.intake.settings import IntakeSettings
from tests import janitor
from tests.integration.intake.conftest import Intake, _free_port, running_intake
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration

SMS_TOKEN = "city-sms-token-for-tests"
TIMEOUT_S = 0.5


class FakeGateway:
    """The city's SMS gateway: answers as told (ok, error, slow, hangup) and keeps every body."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append({"body": body, "authorization": request.headers.get("authorization")})
        if self.mode == "error":
            return web.json_response({"error": "carrier down"}, status=502)
        if self.mode == "slow":
            await asyncio.sleep(TIMEOUT_S * 4)  # the gateway being slow, not a wait in the test
        if self.mode == "hangup":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        return web.json_response({"message_id": f"sms-{len(self.received)}"})

    def codes_sent_to(self, phone: str) -> list[str]:
        found = []
        for got in self.received:
            if got["body"]["phone"] == phone:
                found += re.findall(r"验证码为(\d{6})", got["body"]["text"])
        return found


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[FakeGateway]:
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/sms/send", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}/sms/send"
    yield fake
    await runner.cleanup()


@pytest.fixture(scope="module")
async def intake_sms(infra, gateway: FakeGateway) -> AsyncIterator[Intake]:
    unique = janitor.claim(uuid.uuid4().hex[:10])
    settings = IntakeSettings(
        environment="test", http_port=_free_port(), pg_dbname="intake_it",
        pg_schema=f"it_sms_{unique}", topic_prefix=f"itsms{unique}.", relay_interval_ms=20,
        intake_sms_url=gateway.url, intake_sms_token=SMS_TOKEN, intake_sms_timeout_s=TIMEOUT_S)
    async with running_intake(settings) as here:
        yield here


def _phone() -> str:
    return f"136{uuid.uuid4().int % 10**8:08d}"


async def test_a_citizen_gets_the_code_by_sms_verifies_and_lists_their_tickets(
        intake_sms: Intake, gateway: FakeGateway) -> None:
    gateway.mode = "ok"
    phone = _phone()
    async with intake_sms.client() as adapter:
        mine = await adapter.post("/v1/requests", json={
            "channel": "wechat_mini", "request_id": uuid.uuid4().hex,
            "text": "东城小区北门的井盖松动了，车压过去响得厉害", "contact": {"phone": phone}})
        assert mine.status_code == 201, mine.text
    async with httpx.AsyncClient(base_url=intake_sms.url, timeout=30) as public:
        sent = await public.post("/v1/citizens/verification", json={"phone": phone})
        assert sent.status_code == 202, sent.text
        assert sent.headers["cache-control"] == "private, no-store"
        assert "code" not in sent.json()  # a real gateway: the code travels by SMS only
        assert sent.json()["sent_to"] == f"{phone[:3]}****{phone[-4:]}"
        [code] = gateway.codes_sent_to(phone)
        got = next(g for g in gateway.received if g["body"]["phone"] == phone)
        assert got["authorization"] == f"Bearer {SMS_TOKEN}"
        assert got["body"]["sign"] == "阜阳12345" and got["body"]["client_ref"]
        assert sent.json()["message_id"] == f"sms-{gateway.received.index(got) + 1}"
        session = await public.post("/v1/citizens/session", json={"phone": phone, "code": code})
        assert session.status_code == 200, session.text
        assert session.headers["cache-control"] == "private, no-store"  # a credential
        token = session.json()["token"]
        async def listed() -> httpx.Response | None:  # the read model follows the event log
            response = await public.get("/v1/citizens/me/tickets",
                                        headers={"authorization": f"Bearer {token}"})
            return response if response.json()["tickets"] else None
        response = await eventually_async(listed, timeout=10, interval=0.1,
                                          what="the citizen's ticket in the read model")
        assert [t["code"] for t in response.json()["tickets"]] == [mine.json()["code"]]
        assert response.headers["cache-control"] == "private, no-store"

    # the code is never put in an event
    ticket_code = mine.json()["code"]
    records = await intake_sms.read("tickets.events", lambda rs: any(
        events.decode(r.value).envelope.ticket_code == ticket_code
        and events.decode(r.value).event_type == "TicketAccepted" for r in rs))
    assert records and not any(code.encode() in r.value or "验证码".encode() in r.value
                               for r in records)


@pytest.mark.parametrize("mode,reason", [
    ("error", "refused the message (HTTP 502)"),
    ("slow", "did not answer within"),
    ("hangup", "cannot be reached"),
])
async def test_a_failing_gateway_is_a_503_with_a_reason(
        intake_sms: Intake, gateway: FakeGateway, mode: str, reason: str) -> None:
    gateway.mode = mode
    phone = _phone()
    try:
        async with httpx.AsyncClient(base_url=intake_sms.url, timeout=30) as public:
            refused = await public.post("/v1/citizens/verification", json={"phone": phone})
            # the gateway saw the code before failing; intake burnt it, so it opens nothing
            [code] = gateway.codes_sent_to(phone)
            late = await public.post("/v1/citizens/session", json={"phone": phone, "code": code})
    finally:
        gateway.mode = "ok"
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["error"] == "sms_unavailable" and reason in body["detail"]
    assert phone not in refused.text and phone[-8:] not in refused.text
    assert int(refused.headers["retry-after"]) >= 1
    assert late.status_code == 401


async def test_code_requests_per_phone_stay_limited(intake_sms: Intake,
                                                    gateway: FakeGateway) -> None:
    gateway.mode = "ok"
    phone = _phone()
    async with httpx.AsyncClient(base_url=intake_sms.url, timeout=30) as public:
        statuses = [(await public.post("/v1/citizens/verification", json={"phone": phone}))
                    .status_code for _ in range(4)]
        gateway.mode = "error"
        try:
            other = _phone()
            failing = [(await public.post("/v1/citizens/verification", json={"phone": other}))
                        .status_code for _ in range(4)]
        finally:
            gateway.mode = "ok"
    assert statuses == [202, 202, 202, 429]
    assert len(gateway.codes_sent_to(phone)) == 3  # the refused fourth cost no SMS
    assert failing == [503, 503, 503, 429]  # a failing gateway does not lift the limit
