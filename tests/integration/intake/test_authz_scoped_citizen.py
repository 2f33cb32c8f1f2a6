"""A citizen token scoped to one ticket (`tkt`) acts on that ticket only (docs/security.md,
who may do what): my list shows that ticket alone, another of the same citizen's tickets is not
rated through it, and the whole identity is not erased with it."""

from __future__ import annotations

import uuid

import httpx
import pytest

from backbone import auth
from services.intake.domain.citizen import pseudonym_for_phone
from tests.waiting import eventually_async

pytestmark = pytest.mark.integration


def _request(text: str, contact: dict) -> dict:
    return {"channel": "wechat_mini", "request_id": uuid.uuid4().hex, "text": text,
            "contact": contact, "location": {"lat": 32.89, "lon": 115.81}}


async def test_a_ticket_scoped_citizen_token_reaches_its_own_ticket_only(intake):
    phone = f"136{uuid.uuid4().int % 10**8:08d}"
    contact = {"name": "李秀兰", "phone": phone}
    citizen = pseudonym_for_phone(intake.settings.pseudonym_pepper.encode(), phone)
    async with intake.client() as adapter, intake.client("dispatcher") as staff:
        mine = [(await adapter.post("/v1/requests", json=_request(
            f"第{i}次反映：小区路灯不亮", contact))).json() for i in range(2)]
        assert all(m["status"] == "accepted" for m in mine), mine
        whole = {"authorization": "Bearer " + auth.mint(intake.settings, sub=citizen,
                                                        role="citizen")}
        scoped = {"authorization": "Bearer " + auth.mint(intake.settings, sub=citizen,
                                                         role="citizen",
                                                         ticket=mine[0]["code"])}
        async def both() -> bool:  # the unscoped token sees both once the index has them
            listed = (await staff.get("/v1/citizens/me/tickets", headers=whole)).json()[
                "tickets"]
            return len(listed) == 2
        await eventually_async(both, timeout=10, interval=0.1,
                               what="the citizen's two tickets in the index")
        r = await staff.get("/v1/citizens/me/tickets", headers=scoped)
        assert r.status_code == 200
        assert [t["code"] for t in r.json()["tickets"]] == [mine[0]["code"]]
        r = await staff.post(f"/v1/citizens/me/tickets/{mine[1]['code']}/rating",
                             headers=scoped, json={"rating": "satisfied"})
        assert r.status_code == 403 and "scoped to another ticket" in r.json()["detail"]
        r = await staff.post("/v1/citizens/me/erasure", headers=scoped)
        assert r.status_code == 403 and "one ticket" in r.json()["detail"]
        kept = await staff.get(f"/v1/tickets/{mine[1]['code']}/contact")
        assert kept.status_code == 200 and kept.json()["phone"] == phone  # nothing was erased
    async with httpx.AsyncClient(base_url=intake.url) as public:
        assert (await public.get("/v1/citizens/me/tickets")).status_code == 401
