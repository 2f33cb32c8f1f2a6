"""Whoever gets a ticket code from intake reads that ticket by it at once, through every read
path that takes a code, without waiting for the read side (the index row commits with the
ticket). 200 submissions, each read back immediately over HTTP: zero 404s. (The intake runs in
the test's event loop: the client must be asynchronous.)"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.integration.intake.samples import sample

pytestmark = pytest.mark.integration
ROUNDS = 100  # of each: channel adapter API, Open311 POST
PER_ADAPTER = 40  # under the test intake's per-adapter burst (60)


def _adapters(intake, prefix: str):
    """A fresh adapter token every PER_ADAPTER submissions (each adapter has its own quota)."""
    for n in range(ROUNDS):
        if n % PER_ADAPTER == 0:
            token = intake.token(sub=f"{prefix}-{uuid.uuid4().hex[:6]}")
        yield token


async def test_a_code_from_the_channel_api_reads_back_at_once_everywhere(intake):
    misses: list[str] = []
    o311 = f"{intake.url}/open311/v2"
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as c:
        staff = {"authorization": f"Bearer {intake.token('dispatcher')}"}
        for token in _adapters(intake, "ryw-web"):
            body = sample("web")
            r = await c.post("/v1/requests", json=body, headers={"authorization": f"Bearer {token}"})
            assert r.status_code == 201, r.text
            code, ticket_id = r.json()["code"], r.json()["ticket_id"]
            for path, headers in ((f"/v1/tickets/{code}", staff),
                                  (f"{o311}/requests/{code}.json", {}),
                                  (f"{o311}/tokens/{ticket_id}.json", {})):
                got = await c.get(path, headers=headers)
                if got.status_code != 200:
                    misses.append(f"{path}: {got.status_code} {got.text[:120]}")
    assert misses == [], f"{len(misses)} reads missed: {misses[:5]}"


async def test_an_open311_post_reads_back_at_once_by_id_list_and_token(intake):
    misses: list[str] = []
    o311 = f"{intake.url}/open311/v2"
    service_code = "streetlight"
    async with httpx.AsyncClient(timeout=30) as c:
        for token in _adapters(intake, "ryw-o311"):
            r = await c.post(f"{o311}/requests.json", data={
                "api_key": token, "jurisdiction_id": "fuyang.gov.cn",
                "service_code": service_code, "lat": "32.89", "long": "115.81",
                "description": f"人民路路灯不亮了，晚上很黑 {uuid.uuid4().hex[:6]}"})
            assert r.status_code == 201, r.text
            posted = r.json()[0]
            code, token_id = posted["service_request_id"], posted["token"]
            one = await c.get(f"{o311}/requests/{code}.json")
            if one.status_code != 200 or one.json()[0]["service_request_id"] != code:
                misses.append(f"requests/{code}: {one.status_code}")
            listed = await c.get(f"{o311}/requests.json",
                           params={"service_code": service_code, "status": "open"})
            if code not in {x["service_request_id"] for x in listed.json()}:
                misses.append(f"list: {code} missing")
            by_token = await c.get(f"{o311}/tokens/{token_id}.json")
            if by_token.status_code != 200 or by_token.json()[0]["service_request_id"] != code:
                misses.append(f"tokens/{token_id}: {by_token.status_code}")
    assert misses == [], f"{len(misses)} reads missed: {misses[:5]}"


async def test_a_code_from_the_bus_reply_reads_back_at_once(intake):
    from tests.integration.intake.test_bus import replies_for, to_request

    token = intake.token(sub=f"ryw-bus-{uuid.uuid4().hex[:6]}")
    sent = set()
    for _ in range(20):
        request = to_request(sample("web"), token)
        sent.add(request.request_id)
        await intake.publish("intake.requests", request.request_id, request.SerializeToString())
    replies = await replies_for(intake, sent)
    async with httpx.AsyncClient(timeout=30) as c:
        for reply in replies:
            assert reply.status == "accepted", reply.reason_text
            got = await c.get(f"{intake.url}/open311/v2/requests/{reply.code}.json")
            assert got.status_code == 200 and got.json()[0]["service_request_id"] == reply.code
