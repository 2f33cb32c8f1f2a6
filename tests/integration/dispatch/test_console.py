"""The dispatchers' console over HTTP, with replies reviewed by a person (auto-review off):
the Fuyang jurisdiction dispute from first "not ours" to the accepted reply."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from minsheng.v1 import dispatch_api_pb2 as api

from tests.browser import browser_page, needs_browser
from tests.integration.dispatch.harness import VAGUE, DispatchUnderTest
from tests.waiting import patient
from tools.recognition.labels import export_labels

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def dispatch(infra):
    service = DispatchUnderTest(infra, MINSHENG_AUTO_ACCEPT_REPLIES="false")
    service.start()
    await service.open_kafka()
    yield service
    await service.close_kafka()
    service.stop()


async def queued(dispatch, text=VAGUE) -> tuple[str, str]:
    ticket_id, code = await dispatch.submit(text)
    found = await dispatch.wait_for_any(ticket_id, ("TicketQueuedForDispatcher", "TicketAssigned"))
    assert found.event_type == "TicketQueuedForDispatcher", found.payload
    return ticket_id, code


async def test_the_fuyang_dispute_from_bounce_backs_to_coordination_and_review(dispatch,
                                                                                department):
    ticket_id, code = await queued(dispatch)
    http = dispatch.http("dispatcher", sub="dispatcher-7")
    assert http.post(f"/v1/tickets/{code}/classification", json={
        "category": "urban-management", "subcategory": "garbage", "request_type": "complaint",
        "urgency": "general"}).status_code == 200
    r = http.post(f"/v1/tickets/{code}/assign", json={"unit": "urban-mgmt", "reason": "市容"})
    assert (r.status_code, r.json()["owner"]) == (200, "urban-mgmt"), r.text
    await department.BounceBack(api.BounceBackRequest(
        ticket_code=code, reason="不在我局保洁范围"), metadata=dispatch.unit_md("urban-mgmt"))
    assert code in dispatch.queue(http, "bounced_back")
    http.post(f"/v1/tickets/{code}/assign", json={"unit": "chengnan", "reason": "属地"})
    await department.BounceBack(api.BounceBackRequest(
        ticket_code=code, reason="不在2023年保洁招标范围"), metadata=dispatch.unit_md("chengnan"))
    assert code in dispatch.queue(http, "disputed")  # the second "not ours"

    r = http.post(f"/v1/tickets/{code}/coordinate", json={
        "lead_unit": "chengnan.sanqing", "co_units": ["urban-mgmt", "chengnan"],
        "decision": "由三清街道组织小区物业公司清理，城管局、城南新区配合"})
    assert r.status_code == 200 and r.json()["owner"] == "chengnan.sanqing", r.text
    [decided] = await dispatch.wait_for(ticket_id, "CoordinationDecided")
    assert list(decided.payload.co_units) == ["urban-mgmt", "chengnan"]
    assert decided.payload.decided_by == "dispatcher-7" and decided.payload.assignment_no == 3
    assigned = await dispatch.wait_for(ticket_id, "TicketAssigned", count=5)
    last_three = [(a.payload.unit, a.payload.role) for a in assigned[-3:]]
    assert last_three == [("urban-mgmt", "co_handling"), ("chengnan", "co_handling"),
                          ("chengnan.sanqing", "lead")]  # the lead last: it holds the ticket
    assert assigned[-1].payload.category == "urban-management"  # the dispatcher's correction
    on_lead_topic = await dispatch.read_topic(
        dispatch.settings.assignment_topic("chengnan.sanqing"), ticket_id, 2)
    assert [e.event_type for e in on_lead_topic] == ["CoordinationDecided", "TicketAssigned"]

    lead = dispatch.unit_md("chengnan.sanqing")
    await department.SignFor(api.SignForRequest(ticket_code=code), metadata=lead)
    await department.Reply(api.ReplyRequest(ticket_code=code, reply="物业已清理"), metadata=lead)
    assert code in dispatch.queue(http, "awaiting_review")
    assert http.post(f"/v1/tickets/{code}/review", json={"accepted": False}).status_code == 400
    r = http.post(f"/v1/tickets/{code}/review", json={"accepted": False, "reason": "未附照片"})
    assert r.json()["state"] == "in_progress"
    await department.Reply(api.ReplyRequest(ticket_code=code, reply="已清理，附照片",
                                            outcome="resolved"), metadata=lead)
    r = http.post(f"/v1/tickets/{code}/review", json={"accepted": True, "reason": "同意"})
    assert r.json()["state"] == "closed", r.text
    reviews = await dispatch.wait_for(ticket_id, "ReplyReviewed", count=2)
    assert [(e.payload.accepted, e.payload.reviewed_by) for e in reviews] == [
        (False, "dispatcher-7"), (True, "dispatcher-7")]
    [closed] = await dispatch.wait_for(ticket_id, "DispatchClosed")
    assert closed.payload.unit == "chengnan.sanqing"
    ledger = {u["unit"]: u["status"] for u in http.get(f"/v1/tickets/{code}").json()["units"]}
    assert ledger == {"urban-mgmt": "closed", "chengnan": "closed",
                      "chengnan.sanqing": "closed"}
    http.close()


async def test_a_dispatchers_reclassification_is_published_with_the_limit_it_sets(dispatch):
    """分级分类 by hand, on a ticket a unit already holds: TicketReclassified goes out (sla
    recounts the reply limit from it); a limit of its own only for a complex matter, in the
    SLA policy's range."""
    ticket_id, code = await queued(dispatch)
    with dispatch.http("dispatcher", sub="dispatcher-9") as http:
        body = {"category": "urban-management", "subcategory": "garbage",
                "request_type": "complaint", "urgency": "general"}
        assert http.post(f"/v1/tickets/{code}/classification", json=body).status_code == 200
        r = http.post(f"/v1/tickets/{code}/assign", json={"unit": "urban-mgmt", "reason": "市容"})
        assert r.status_code == 200, r.text
        for wrong, why in ((dict(body, working_days=10), "no reply limit of its own"),
                           (dict(body, urgency="complex", working_days=40), "5..30")):
            refused = http.post(f"/v1/tickets/{code}/classification", json=wrong)
            assert refused.status_code == 400 and why in refused.json()["detail"], refused.text
        r = http.post(f"/v1/tickets/{code}/classification",
                      json=dict(body, urgency="complex", working_days=20))
        assert r.status_code == 200, r.text
    first, second = await dispatch.wait_for(ticket_id, "TicketReclassified", count=2)
    assert (first.payload.urgency, first.payload.working_days) == ("general", 0)
    assert (second.payload.urgency, second.payload.working_days,
            second.payload.reclassified_by) == ("complex", 20, "dispatcher-9")
    assert second.payload.category == "urban-management"


async def test_a_dispatchers_correction_teaches_the_classifier(dispatch):
    # Too vague for the model: a dispatcher classifies it, and the same words are known at once.
    unsure = ("门口那个东西又坏了，好几天了，请派人来看看", "")
    _, code = await queued(dispatch, unsure)
    with dispatch.http() as http:
        r = http.post(f"/v1/tickets/{code}/classification", json={
            "category": "social-affairs", "subcategory": "elderly-care",
            "request_type": "suggestion", "urgency": "simple"})
        assert r.status_code == 200, r.text
    again, _ = await dispatch.submit(unsure)
    found = await dispatch.wait_for_any(again, ("TicketQueuedForDispatcher", "TicketAssigned"))
    assert found.payload.subcategory == "elderly-care"


async def test_dispatchers_corrections_become_training_labels(dispatch, tmp_path):
    """A reclassification and a hand-chosen unit are both exported for the next training."""
    words = f"那个事情到底归谁管{uuid.uuid4().hex[:6]}"
    ticket_id, code = await queued(dispatch, (words, ""))
    [q] = await dispatch.wait_for(ticket_id, "TicketQueuedForDispatcher")
    assert "候选：" in q.payload.reason  # the top suggestions, with the reason
    with dispatch.http() as http:
        r = http.post(f"/v1/tickets/{code}/assign", json={"unit": "transport", "reason": "公交"})
        assert r.status_code == 200, r.text
    await dispatch.wait_for(ticket_id, "TicketAssigned")
    path = tmp_path / "labels.jsonl"
    dsn, schema = dispatch.settings.pg_conninfo(), dispatch.settings.pg_schema
    await asyncio.to_thread(export_labels, dsn, schema, path)
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    mine = [r for r in rows if r["text"] == words]
    assert [r["subcategory"] in ("taxi", "bus", "road-damage") for r in mine] == [True]
    assert any(r["subcategory"] == "elderly-care" for r in rows)  # the reclassification above


async def test_the_console_api_refuses_with_clear_reasons(dispatch):
    _, code = await queued(dispatch)
    anonymous = dispatch.http()
    anonymous.headers.pop("authorization")
    cases = [
        (anonymous, "get", "/v1/queues", None, 401),
        (dispatch.http("unit", unit="housing"), "get", "/v1/queues", None, 403),
        (dispatch.http("supervisor"), "post", f"/v1/tickets/{code}/assign",
         {"unit": "housing"}, 403),
        (dispatch.http(), "get", "/v1/tickets/FY-NOTHING", None, 404),
        (dispatch.http(), "get", "/v1/queues?queue=lost", None, 400),
        (dispatch.http(), "post", f"/v1/tickets/{code}/assign", {"unit": "atlantis"}, 400),
        (dispatch.http(), "post", f"/v1/tickets/{code}/assign", {"unit": "city"}, 400),
        (dispatch.http(), "post", f"/v1/tickets/{code}/assign", {"unit": ""}, 422),
        (dispatch.http(), "post", f"/v1/tickets/{code}/assign", {"unit": "housing", "x": 1}, 422),
        (dispatch.http(), "post", f"/v1/tickets/{code}/classification", {
            "category": "market", "subcategory": "garbage", "request_type": "complaint",
            "urgency": "general"}, 400),
        (dispatch.http(), "post", f"/v1/tickets/{code}/coordinate", {
            "lead_unit": "housing", "co_units": ["housing"], "decision": "x"}, 400),
        (dispatch.http(), "post", f"/v1/tickets/{code}/review", {"accepted": True}, 409),
        (dispatch.http(), "post", f"/v1/tickets/{code}/transfer",
         {"to_unit": "housing", "reason": "x"}, 409),
        (dispatch.http(), "post", f"/v1/tickets/{code}/assign",
         {"unit": "housing", "at": "2020-01-01T00:00:00"}, 400),
    ]
    for client, method, path, body, status in cases:
        r = client.request(method, path, json=body)
        assert r.status_code == status, (path, body, r.status_code, r.text)
        assert r.json()["detail"], r.text
        client.close()
    with dispatch.http() as http:
        assert http.post(f"/v1/tickets/{code}/assign", json={"unit": "housing"}).status_code == 200
        assert http.post(f"/v1/tickets/{code}/assign", json={"unit": "housing"}).status_code == 409


async def test_the_desks_poll_served_in_front_answers_as_the_route_does(dispatch):
    """GET /v1/queues is served in front of FastAPI (entrypoints/fast_queues.py) when it can
    vouch for the request; a parameter the route ignores sends the same request to the
    framework's route instead. Both answer the same bytes (datetimes, floats, Chinese text,
    lists and nulls of a queued ticket's row); what the hot path does not vouch for is
    refused by the route as before."""
    _, code = await queued(dispatch)
    with dispatch.http() as http, dispatch.http("supervisor") as supervisor:
        assert code in dispatch.queue(http, "unrouted")
        for client in (http, supervisor):
            for query in ("", "?queue=unrouted", "?queue=unrouted&limit=5", "?limit=1000"):
                framework_query = (query + "&" if query else "?") + "framework=1"
                for _ in range(20):  # equal unless a ticket moved between the two reads
                    hot = client.get("/v1/queues" + query)
                    framework = client.get("/v1/queues" + framework_query)
                    assert (hot.status_code, framework.status_code) == (200, 200), hot.text
                    if hot.content == framework.content:
                        break
                assert hot.content == framework.content, (query, hot.text, framework.text)
                assert hot.headers["content-type"] == framework.headers["content-type"]
                assert hot.headers["traceparent"]
        for query, status in (("?limit=0", 422), ("?limit=1001", 422), ("?limit=ten", 422),
                              ("?limit=%2B5", 200), ("?queue=" + "x" * 33, 422),
                              ("?queue=lost", 400), ("?queue=lost&queue=unrouted", 200)):
            r = http.get("/v1/queues" + query)
            assert r.status_code == status, (query, r.text)


async def test_registry_taxonomy_and_the_console_page(dispatch):
    with dispatch.http("unit", unit="housing") as http:
        tree = http.get("/v1/units").json()
        taxonomy = http.get("/v1/taxonomy").json()
    [city] = tree["tree"]
    kinds = {c["kind"] for c in city["children"]}
    counties = [c for c in city["children"] if c["kind"] == "county"]
    assert city["code"] == "city" and len(counties) == 8 and {"zone", "department"} <= kinds
    assert all(c["children"] for c in counties)  # sub-districts and towns under each county
    assert len(taxonomy["categories"]) == 14 and taxonomy["routing_version"] == 2
    page = dispatch.http().get("/console")
    assert page.status_code == 200 and "派单员工作台" in page.text
    assert "<script src" not in page.text  # no external CDN; its one link is its empty icon
    assert page.text.count("<link") == page.text.count('<link rel="icon" href="data:,">') == 1


@needs_browser()
async def test_the_console_page_fits_a_phone_and_asks_for_a_token_in_chinese(dispatch):
    """At a phone's width the console laid itself out ~970 px wide (the 360 px token box, two
    columns, inputs of 60 characters): the header and tables lay over the action buttons, a
    finger could not press them; opened without a token it showed identity's English 401."""
    _, code = await queued(dispatch)
    async with browser_page(390, 844, mobile=True) as page:
        page.set_default_timeout(patient(30) * 1000)  # playwright's 30 s, as this run allows
        await page.goto(f"{dispatch.url}/console")
        await page.wait_for_function("document.getElementById('msg').textContent !== ''")
        assert "请先" in await page.inner_text("#msg")
        await page.fill("#token", dispatch.token("dispatcher", sub="dispatcher-phone"))
        await page.click("text=保存令牌")
        row = page.locator(f"#rows tr.pick:has-text('{code}')")
        await row.focus()  # a row is reached from the keyboard too, and Enter opens it
        await page.keyboard.press("Enter")
        await page.wait_for_selector("#actions:not([hidden])")
        assert await page.evaluate("window.innerWidth") == 390
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        # nothing lies over it
        await page.click("button:has-text('保存分类')", timeout=patient(5) * 1000)
        await page.wait_for_function("document.getElementById('msg').textContent.includes('已完成')")
        assert not page.errors, page.errors


@needs_browser()
async def test_the_console_keeps_its_token_for_the_tab_only(dispatch):
    """The console kept the pasted token in localStorage, on the device after the browser
    closed (a shared office PC): it is kept in sessionStorage, and the old key is removed."""
    token = dispatch.token("dispatcher", sub="dispatcher-tab")
    async with browser_page() as page:
        page.set_default_timeout(patient(30) * 1000)
        await page.goto(f"{dispatch.url}/console")
        await page.evaluate("localStorage.setItem('minsheng-token', 'left-by-an-older-console')")
        await page.reload()
        await page.wait_for_function("document.getElementById('msg').textContent !== ''")
        assert await page.evaluate("localStorage.getItem('minsheng-token')") is None
        assert await page.input_value("#token") == ""  # the old token is not reused
        await page.fill("#token", token)
        await page.click("text=保存令牌")
        await page.wait_for_selector("#tabs button")  # the queues loaded with it
        assert await page.evaluate("sessionStorage.getItem('minsheng-token')") == token
        assert await page.evaluate("localStorage.getItem('minsheng-token')") is None
        await page.reload()  # the same tab keeps it
        assert await page.input_value("#token") == token
        assert not page.errors, page.errors
