"""The workbench's list, export, scoping, session and knowledge base, against PostgreSQL."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.integration.workbench.conftest import T0

pytestmark = pytest.mark.integration


@pytest.fixture
async def city(workbench):
    from datetime import timedelta
    feed = workbench.feed
    codes = {
        "lamp": feed.ticket(text="阳光小区路灯不亮已经一周", unit="lighting",
                            address="颍州区清河路阳光小区", status="signed_for"),
        "noise": feed.ticket(text="夜间施工噪音扰民", unit="yingzhou", overdue=True,
                             at=T0 + timedelta(days=1)),
        "water": feed.ticket(text="停水三天没有通知", unit="water", county="yingdong",
                             channel="wechat_mini", at=T0 + timedelta(days=2),
                             rating="dissatisfied"),
    }
    for n in range(7):
        codes[f"more{n}"] = feed.ticket(text=f"路面坑洼第{n}处", unit="roads",
                                        at=T0 + timedelta(days=3, hours=n))
    return codes


async def test_filters_search_and_keyset_pages(workbench, city):
    async with workbench.client("dispatcher") as c:
        everything = (await c.get("/v1/tickets", params={"limit": 4})).json()
        assert everything["total"] == 10 and len(everything["items"]) == 4
        seen = [t["code"] for t in everything["items"]]
        cursor = everything["next_cursor"]
        while cursor:
            page = (await c.get("/v1/tickets", params={"limit": 4, "cursor": cursor})).json()
            seen += [t["code"] for t in page["items"]]
            cursor = page["next_cursor"]
        assert len(seen) == len(set(seen)) == 10
        assert seen[-1] == city["lamp"]  # newest first by default

        async def codes(**params):
            body = (await c.get("/v1/tickets", params=params)).json()
            return {t["code"] for t in body["items"]}

        assert await codes(q="路灯") == {city["lamp"]}
        assert await codes(q="阳光 一周") == {city["lamp"]}
        assert await codes(q=city["noise"]) == {city["noise"]}
        assert await codes(overdue="true") == {city["noise"]}
        assert await codes(rating="dissatisfied") == {city["water"]}
        assert await codes(channel="wechat_mini") == {city["water"]}
        assert await codes(county="yingdong") == {city["water"]}
        assert await codes(status="signed_for") == {city["lamp"]}
        assert await codes(unit="roads", date_from="2026-11-05") == {
            city[f"more{n}"] for n in range(7)}
        assert await codes(date_from="2026-11-02", date_to="2026-11-02") == {city["lamp"]}
        due_first = (await c.get("/v1/tickets", params={"sort": "due_at", "limit": 1})).json()
        assert due_first["items"][0]["code"] == city["lamp"]


async def test_bad_filters_are_400_with_the_reason(workbench):
    async with workbench.client("supervisor") as c:
        for params, words in (({"status": "lost"}, "status"), ({"sort": "secret"}, "sort"),
                              ({"cursor": "garbage!"}, "cursor"),
                              ({"date_from": "2026-12-02", "date_to": "2026-12-01"}, "date")):
            r = await c.get("/v1/tickets", params=params)
            assert r.status_code == 400 and words in r.json()["detail"], (params, r.text)
        r = await c.get("/v1/tickets", params={"date_from": "yesterday"})
        assert r.status_code == 422


async def test_a_unit_sees_only_its_own(workbench, city):
    async with workbench.client("unit", unit="water") as c:
        body = (await c.get("/v1/tickets", params={"unit": "roads"})).json()
        assert [t["code"] for t in body["items"]] == [city["water"]]
        assert (await c.get(f"/v1/tickets/{city['lamp']}")).status_code == 404
    async with workbench.client("channel_adapter") as c:
        assert (await c.get("/v1/tickets")).status_code == 403
    async with workbench.client() as c:
        assert (await c.get("/v1/tickets")).status_code == 401


async def test_the_export_is_exactly_the_filtered_list(workbench, city):
    async with workbench.client("dispatcher") as c:
        r = await c.get("/v1/tickets.xlsx", params={"unit": "roads"})
    assert r.status_code == 200 and r.headers["content-type"].startswith(
        "application/vnd.openxmlformats")
    rows = list(load_workbook(BytesIO(r.content)).active.values)
    assert rows[0][:3] == ("诉求码", "登记时间", "来源渠道")
    assert {row[0] for row in rows[1:]} == {city[f"more{n}"] for n in range(7)}


async def test_the_ticket_page_shows_the_row_even_when_other_services_are_down(workbench, city):
    async with workbench.client("supervisor") as c:
        body = (await c.get(f"/v1/tickets/{city['noise']}")).json()
    assert body["ticket"]["overdue"] is True and body["ticket"]["unit"] == "yingzhou"
    assert body["timeline"]["unavailable"] and body["clocks"]["status"] == 503
    assert body["timeline"]["detail"] == "审计台账暂时无法读取，请稍后再试"  # not "audit is ..."


async def test_the_session_cookie_works_same_origin_only(workbench, city):
    token = workbench.token("dispatcher", sub="zhang")
    async with workbench.client() as c:
        c.cookies.set("minsheng_session", token)
        me = (await c.get("/v1/me")).json()
        assert (me["sub"], me["role"]) == ("zhang", "dispatcher")
        cross = await c.post("/v1/knowledge", headers={"origin": "http://evil.test"}, json={})
        assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
        entry = {"topic": "办事时间", "question": "颍州区政务服务中心午休吗",
                 "answer": "工作日12:00—13:30午休，部分窗口午间轮岗。", "source": "颍州区政务服务中心",
                 "source_date": "2026-11-01"}
        same = await c.post("/v1/knowledge", headers={"origin": "http://workbench.test"},
                            json=entry)
        assert same.status_code == 201 and same.json()["edited_by"] == "zhang"
        out = await c.post("/logout", headers={"origin": "http://workbench.test"})
        assert out.status_code == 303 and "minsheng_session" in out.headers["set-cookie"]


async def test_the_knowledge_base_is_seeded_and_searchable(workbench):
    async with workbench.client("channel_adapter") as c:
        hits = (await c.get("/v1/knowledge", params={"q": "路灯不亮找谁"})).json()["items"]
        assert hits and "路灯" in hits[0]["question"] and hits[0]["source_date"]
        everything = (await c.get("/v1/knowledge", params={"limit": 50})).json()["items"]
        assert len(everything) >= 30
        assert (await c.post("/v1/knowledge", json={})).status_code == 403
    async with workbench.client("supervisor") as c:
        first = hits[0]
        changed = {k: first[k] for k in ("topic", "question", "source", "unit", "keywords")}
        changed |= {"answer": "城区路灯由市城市管理局负责维修。", "source_date": "2026-12-01"}
        edited = await c.put(f"/v1/knowledge/{first['id']}", json=changed)
        assert edited.status_code == 200 and edited.json()["source_date"] == "2026-12-01"
        assert (await c.delete(f"/v1/knowledge/{first['id']}")).status_code == 200
        assert (await c.get(f"/v1/knowledge/{first['id']}")).status_code == 404
        assert (await c.put(f"/v1/knowledge/{first['id']}", json=changed)).status_code == 404


async def test_the_hotline_sees_open_tickets_at_the_same_place(workbench, city):
    async with workbench.client("channel_adapter") as c:
        body = (await c.get("/v1/hotline/similar", params={
            "text": "阳光小区的路灯坏了", "address": "清河路阳光小区"})).json()
    assert body["items"][0]["code"] == city["lamp"] and body["items"][0]["same_place"]


async def test_login_failure_when_identity_is_down_says_so(workbench):
    async with workbench.client() as c:
        r = await c.post("/login", data={"username": "a", "password": "b"})
        assert r.status_code == 303 and r.headers["location"] == "/login?error=unavailable"
        r = await c.post("/login", data={"username": "a", "password": "b"},
                         headers={"origin": "http://evil.test"})
        assert r.status_code == 303 and r.headers["location"] == "/login?error=csrf"


async def test_bad_desk_and_hotline_input_is_refused_before_any_other_service_is_called(
        workbench, city):
    async with workbench.client("unit", unit="lighting") as c:
        r = await c.post(f"/v1/desk/{city['lamp']}/reply",
                         data={"text": "已修复路灯。", "outcome": "resolved"},
                         files={"files": ("notes.txt", b"plain text, not a picture", "text/plain")})
        assert r.status_code == 400 and "不是图片或 PDF" in r.json()["detail"]
        r = await c.post(f"/v1/desk/{city['lamp']}/reply", data={"outcome": "fixed"})
        assert r.status_code == 422
        r = await c.post(f"/v1/desk/{city['lamp']}/bounce-back", json={"reason": ""})
        assert r.status_code == 422
    async with workbench.client("channel_adapter") as c:
        r = await c.post("/v1/hotline/calls", json={
            "caller_number": "13800000000", "summary": "周六办证吗", "knowledge_id": 999999})
        assert r.status_code == 404 and "知识库" in r.json()["detail"]
        r = await c.post("/v1/hotline/calls", json={"caller_number": "call me", "summary": "x"})
        assert r.status_code == 422
    async with workbench.client("dispatcher") as c:
        assert (await c.get("/v1/tickets/FY-000000-00000-0")).status_code == 404
        r = await c.get(f"/v1/tickets/{city['lamp']}/attachments/not-hex")
        assert r.status_code == 400


async def test_what_was_typed_for_a_code_is_not_repeated_when_it_may_be_personal_data(workbench):
    """A phone number typed where a code goes came back in the 404's text (error bodies end up
    in logs and proxies); a code-like value is still quoted."""
    async with workbench.client("dispatcher") as c:
        r = await c.get("/v1/tickets/13912345678")
        assert r.status_code == 404 and "13912345678" not in r.text
        r = await c.get("/v1/tickets/王秀英")
        assert r.status_code == 404 and "王秀英" not in r.text
        r = await c.get("/v1/tickets/FY-000000-00000-0")
        assert r.status_code == 404 and "FY-000000-00000-0" in r.json()["detail"]


async def test_the_last_day_of_the_date_picker_is_a_valid_end_of_the_range(workbench, city):
    """date_to=9999-12-31 was a 500 (the day after it overflowed), for the list and export."""
    async with workbench.client("dispatcher") as c:
        everything = (await c.get("/v1/tickets")).json()["total"]
        r = await c.get("/v1/tickets", params={"date_to": "9999-12-31"})
        assert r.status_code == 200 and r.json()["total"] == everything
        r = await c.get("/v1/tickets.xlsx", params={"date_to": "9999-12-31"})
        assert r.status_code == 200


async def test_a_date_filter_is_a_day_written_yyyy_mm_dd(workbench, city):
    """`date_to=0` was read as 1970-01-01 (an empty list, no error): it is 422 now, as any
    form that is not YYYY-MM-DD, for the list and the export."""
    async with workbench.client("dispatcher") as c:
        for bad in ("0", "1733500000", "2026-12-7"):
            for path in ("/v1/tickets", "/v1/tickets.xlsx"):
                r = await c.get(path, params={"date_to": bad})
                assert r.status_code == 422 and "YYYY-MM-DD" in r.text, (path, bad, r.text)
