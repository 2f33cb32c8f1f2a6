"""The supervisors' HTTP API and page, against the running service: roles, views, commands."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.browser import browser_page, browser_ready
from tests.integration.sla.harness import (
    Upstream,
    accepted,
    assigned,
    by_ticket,
    closed,
    extension,
    replied,
    sh,
    types,
)
from tests.waiting import eventually

pytestmark = pytest.mark.integration

SCHEDULE_2027 = {
    "year": 2027, "source": "test schedule (not the State Council's): National Day 10-01..10-07",
    "holidays": [f"2027-10-0{d}" for d in range(1, 8)],
    "make_up_working_days": ["2027-10-09"],
}


def count(found, ticket, kind):
    return types(by_ticket(found).get(ticket, [])).count(kind)


async def test_views_commands_roles_and_calendar(sla_process):
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t1, t2, t3, t4 = (f"{n}-{uuid.uuid4()}" for n in ("T1", "T2", "T3", "T4"))
    facts: list[Upstream] = [
        accepted(t1, sh("2024-11-04 10:00")), assigned(t1, sh("2024-11-04 10:30"), "yingzhou",
                                                       "general"),
        accepted(t2, sh("2024-11-04 11:00")), assigned(t2, sh("2024-11-04 11:30"), "taihe",
                                                       "general"),
        accepted(t3, sh("2024-11-12 09:00")),
        accepted(t4, sh("2024-11-12 09:30")), assigned(t4, sh("2024-11-12 09:40"), "yingzhou",
                                                       "general"),
        extension(t4, sh("2024-11-12 09:50"), "yingzhou", 5),  # over the auto policy's 3 days
    ]
    await sla.publish(facts)
    await sla.wait_for(lambda f: count(f, t1, "SupervisionOrderIssued") == 1
                       and count(f, t2, "SupervisionOrderIssued") == 1
                       and count(f, t4, "SignForDeadlineSet") == 1, "overdue orders")
    supervisor = sla.client("supervisor", sub="duchashi-1")
    dispatcher = sla.client("dispatcher", sub="disp-1")
    yingzhou, taihe = sla.client("unit", unit="yingzhou"), sla.client("unit", unit="taihe")

    # -- roles and scopes -----------------------------------------------------------------------
    assert sla.client("citizen").get("/v1/overdue").status_code == 403
    import httpx
    assert httpx.get(sla.url + "/v1/overdue").status_code == 401
    overdue = supervisor.get("/v1/overdue").json()
    assert {i["ticket_id"] for i in overdue["items"]} == {t1, t2}
    assert [i["ticket_id"] for i in yingzhou.get("/v1/overdue").json()["items"]] == [t1]
    assert yingzhou.get("/v1/overdue", params={"unit": "taihe"}).status_code == 403
    # t3's clock is set by the same batch as the others, but the orders waited for above can
    # be read before its view row is: wait for the view, as a dispatcher's page would refresh
    eventually(lambda: {i["ticket_id"] for i in dispatcher.get(
        "/v1/due-soon", params={"working_days": 5}).json()["items"]} >= {t3},
        what="t3 in the due-soon view")
    assert dispatcher.get("/v1/due-soon", params={"working_days": 99}).status_code == 422

    # -- the supervisors' page on a phone: times in Beijing time, the tables inside the screen --
    if browser_ready():
        now = dispatcher.get("/v1/due-soon").json()["now"]
        beijing = datetime.fromisoformat(now).astimezone(ZoneInfo("Asia/Shanghai"))
        async with browser_page(390, 844, mobile=True) as page:
            await page.goto(sla.url + "/supervision")
            await page.fill("#token", supervisor.headers["authorization"].removeprefix("Bearer "))
            await page.click("#load")
            await page.wait_for_selector("#overdue tr")
            # "now" is UTC in the API: the page cut its text and said 8 hours early
            assert await page.inner_text("#now") == f"截至 {beijing:%Y-%m-%d %H:%M}"
            assert await page.evaluate("document.documentElement.scrollWidth") <= 390
            assert not page.errors, page.errors

    # -- supervision orders: answered by the unit addressed, closed by the supervisor -------------
    mine = yingzhou.get("/v1/supervision-orders").json()["items"]
    assert len(mine) == 1 and mine[0]["kind"] == "overdue" and mine[0]["ticket_id"] == t1
    order_id = mine[0]["order_id"]
    answer = {"text": "已安排人员处理，联系电话13812345678", "at": "2024-11-12T09:55:00+08:00"}
    assert taihe.post(f"/v1/supervision-orders/{order_id}/answer", json=answer).status_code == 403
    assert yingzhou.post(f"/v1/supervision-orders/{order_id}/answer",
                         json=answer).status_code == 200
    again = yingzhou.post(f"/v1/supervision-orders/{order_id}/answer", json=answer)
    assert again.status_code == 409 and "already answered" in again.json()["detail"]
    shown = supervisor.get(f"/v1/supervision-orders/{order_id}").json()
    assert shown["status"] == "answered" and "13812345678" not in shown["answer_text"]
    assert supervisor.post(f"/v1/supervision-orders/{order_id}/close",
                           json={"note": "答复可行", "at": "2024-11-12T10:00:00+08:00"}
                           ).status_code == 200
    assert supervisor.get("/v1/supervision-orders/not-an-id").status_code == 400
    assert supervisor.get(f"/v1/supervision-orders/{uuid.uuid4()}").status_code == 404

    manual = {"ticket_id": t3, "unit": "yingquan", "reason": "群众多次来电催办",
              "request_id": "r-1", "at": "2024-11-12T10:05:00+08:00"}
    assert dispatcher.post("/v1/supervision-orders", json=manual).status_code == 403
    issued = supervisor.post("/v1/supervision-orders", json=manual)
    assert issued.status_code == 201
    assert supervisor.post("/v1/supervision-orders", json=manual).json() == issued.json()
    assert supervisor.post("/v1/supervision-orders", json={"ticket_id": t3}).status_code == 422
    nobody = supervisor.post("/v1/supervision-orders", json={**manual, "unit": None,
                                                             "request_id": "r-2"})
    assert nobody.status_code == 400  # t3 is held by no unit yet

    # -- extension decided by a supervisor; pause and resume by a dispatcher -----------------------
    decision = {"approve": True, "working_days": 4, "at": "2024-11-12T11:00:00+08:00"}
    assert supervisor.post(f"/v1/tickets/{t4}/extension-decision",
                           json=decision).status_code == 200
    refused = supervisor.post(f"/v1/tickets/{t4}/extension-decision", json=decision)
    assert refused.status_code == 409 and "no extension request" in refused.json()["detail"]
    pause = {"reason": "等待市民补充材料", "at": "2024-11-12T10:00:00+08:00"}
    assert supervisor.post(f"/v1/tickets/{t3}/pause", json=pause).status_code == 403
    assert dispatcher.post(f"/v1/tickets/{t3}/pause", json=pause).status_code == 200
    assert dispatcher.post(f"/v1/tickets/{t3}/resume",
                           json={"at": "2024-11-13T10:00:00+08:00"}).status_code == 200
    assert dispatcher.post(f"/v1/tickets/{uuid.uuid4()}/pause", json=pause).status_code == 404
    assert dispatcher.post(f"/v1/tickets/{t3}/resume", json={"at": "2024-11-13T10:00:00"}
                           ).status_code == 400  # no time zone

    found = await sla.wait_for(lambda f: count(f, t3, "ClockResumed") == 1
                               and count(f, t4, "DeadlineExtended") == 1
                               and count(f, t1, "SupervisionOrderClosed") == 1,
                               "the commands' events")
    events = by_ticket(found)
    answered = next(d for d in events[t1] if d.event_type == "SupervisionOrderAnswered")
    assert answered.payload.unit == "yingzhou" and "13812345678" not in answered.payload.text_masked
    extended = next(d for d in events[t4] if d.event_type == "DeadlineExtended")
    assert extended.payload.working_days == 4 and extended.payload.approved_by == "duchashi-1"
    assert extended.envelope.actor.role == "supervisor"
    resumed = next(d for d in events[t3] if d.event_type == "ClockResumed")
    assert resumed.payload.due_at.ToDatetime().isoformat() == "2024-11-20T15:59:59.999999"
    manual_order = next(d for d in events[t3] if d.event_type == "SupervisionOrderIssued")
    assert manual_order.payload.kind == "manual" and manual_order.payload.unit == "yingquan"

    # -- an official schedule for a provisional year: deadlines recomputed ------------------------
    t5 = f"T5-{uuid.uuid4()}"
    await sla.publish([accepted(t5, sh("2027-09-29 09:00"))])
    first = await sla.wait_for(lambda f: count(f, t5, "DeadlineSet") == 1, "t5's deadline")
    set5 = by_ticket(first)[t5][0]
    assert set5.payload.provisional
    # the shipped provisional 2027 (statutory days, weekend ones made up): Oct 1-5 off, so the
    # 5th working day after Wed Sep 29 is Mon Oct 11 (Sep 30, Oct 6, 7, 8, 11)
    assert set5.payload.due_at.ToDatetime().isoformat() == "2027-10-11T15:59:59.999999"
    bad = {**SCHEDULE_2027, "make_up_working_days": ["2027-10-08"]}  # a Friday
    refused = supervisor.put("/v1/calendar/official/2027", json=bad)
    assert refused.status_code == 400 and "not a Saturday or Sunday" in refused.json()["detail"]
    assert supervisor.put("/v1/calendar/official/2028", json=SCHEDULE_2027).status_code == 400
    assert dispatcher.put("/v1/calendar/official/2027", json=SCHEDULE_2027).status_code == 403
    loaded = supervisor.put("/v1/calendar/official/2027", json=SCHEDULE_2027)
    assert loaded.status_code == 200 and loaded.json()["recomputed"] >= 1
    found = await sla.wait_for(lambda f: count(f, t5, "DeadlineRecomputed") == 1, "recompute")
    recomputed = next(d for d in by_ticket(found)[t5] if d.event_type == "DeadlineRecomputed")
    assert not recomputed.payload.provisional
    assert recomputed.payload.due_at.ToDatetime().isoformat() == "2027-10-12T15:59:59.999999"
    coverage = yingzhou.get("/v1/calendar/coverage").json()
    assert 2027 in coverage["loaded_years"] and coverage["package"]["last_year"] == 2026

    page = httpx.get(sla.url + "/supervision")
    assert page.status_code == 200 and "督办看板" in page.text


async def test_no_supervision_order_on_a_closed_ticket(sla_process):
    """The close closes every order of the ticket; an order issued after it would wait for an
    answer nobody owes and escalate: it is refused (409), until a reopen starts a new clock."""
    sla = sla_process()
    await sla.create_topics()
    sla.start()
    t = f"T-{uuid.uuid4()}"
    await sla.publish([accepted(t, sh("2024-11-04 10:00")),
                       assigned(t, sh("2024-11-04 10:30"), "yingzhou", "general")])
    await sla.wait_for(lambda f: count(f, t, "SignForDeadlineSet") == 1, "the assignment")
    supervisor = sla.client("supervisor", sub="duchashi-2")
    order = {"ticket_id": t, "reason": "群众多次来电催办", "at": "2024-11-04T11:00:00+08:00"}
    first = supervisor.post("/v1/supervision-orders", json={**order, "request_id": "o-1"})
    assert first.status_code == 201, first.text
    await sla.publish([replied(t, sh("2024-11-05 16:00"), "yingzhou"),
                       closed(t, sh("2024-11-06 09:00"), "yingzhou")])
    await sla.wait_for(lambda f: count(f, t, "SupervisionOrderClosed") == 1, "the order closed")
    late = supervisor.post("/v1/supervision-orders", json={
        **order, "request_id": "o-2", "at": "2024-11-06T10:00:00+08:00"})
    assert late.status_code == 409 and "closed" in late.json()["detail"], late.text
