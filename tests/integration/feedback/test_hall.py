"""The public hall: JSON API and the Chinese mobile page in a real headless browser, with a
scan of every response and page for personal data."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from upstream import T0, Ticket

from backbone.privacy import find_personal_data
from tests.browser import browser_page, needs_browser
from tests.integration.feedback.upstream import fake_code

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[3] / ".data" / "screenshots"

# What the tickets below hold that must never be seen in the hall, in any form.
SECRETS = ["李建国", "王秀英", "刘建国", "13812345678", "341202199001011234", "12号", "501",
           "0558-2345678", "一三九零零零零一一一一"]
PII_TEXT = ("我叫李建国，住人民路12号3栋501室，电话13812345678，身份证341202199001011234，"
            "邻居王秀英女士也反映过路灯不亮，座机0558-2345678，另一个号码一三九零零零零一一一一")
PII_REPLY = "经联系王秀英女士，网格员刘建国已上门，路灯已修复。"


def new_ticket() -> Ticket:
    return Ticket(fake_code())


def leaks(text: str) -> list[str]:
    """Personal data the platform scanner or our own list finds in `text`."""
    found = [f"{f.kind}:{f.text}" for f in find_personal_data(text) if f.text != f.masked]
    # ticket codes, ticket ids and times aside (a random code such as FY-250125-... holds "501")
    plain = re.sub(r"FY[-0-9A-Z]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                   r"|\d{4}-\d\d-\d\dT[\d:.]+", "", text)
    found += [s for s in SECRETS if s in plain]
    # any long digit run is suspect on a public page
    found += re.findall(r"\d{7,}", plain)
    return found


@pytest.fixture(scope="module")
def tickets():
    return {"pii": new_ticket(), "rejected": new_ticket(), "report": new_ticket(),
            "taihe": new_ticket(), "plain": [new_ticket() for _ in range(23)]}


async def _populate(service, tickets) -> None:
    pii = tickets["pii"]
    await service.publish(pii, pii.submitted(T0, text=PII_TEXT, title="路灯不亮",
                                             address="人民路*号*栋*单元*室"),
                          pii.accepted(T0), pii.assigned(T0 + timedelta(minutes=1)),
                          pii.reviewed(T0 + timedelta(days=1), reply=PII_REPLY))
    rejected = tickets["rejected"]
    await service.publish(rejected, rejected.submitted(T0, text="测试拒绝的诉求路灯"),
                          rejected.rejected(T0))
    report = tickets["report"]
    await service.publish(report, report.submitted(T0, text="举报某单位路灯工程违规"),
                          report.accepted(T0), report.assigned(T0, request_type="report"))
    taihe = tickets["taihe"]
    await service.publish(taihe, taihe.submitted(T0, text="太和县城关镇路灯不亮"),
                          taihe.accepted(T0), taihe.assigned(T0, unit="taihe.chengguan",
                                                             county="taihe",
                                                             subdistrict="taihe.chengguan"))
    for i, t in enumerate(tickets["plain"]):
        await service.publish(t, t.submitted(T0 + timedelta(minutes=i), text=f"第{i}处井盖松动"),
                              t.accepted(T0 + timedelta(minutes=i + 1)))


async def hall(service, **params):
    async with service.client() as public:
        return await public.get("/v1/hall", params=params)


async def test_hall_lists_searches_filters_and_pages_without_personal_data(service, tickets):
    await _populate(service, tickets)
    pii = tickets["pii"]

    async def replied() -> dict | None:
        r = await service_get(service, f"/v1/hall/{pii.code}")
        return r.json() if r.status_code == 200 and r.json()["status"] == "replied" else None

    entry = await service.until(replied, "the replied ticket in the hall")
    await service.until(lambda: _count(service, tickets), "every shown ticket in the hall")
    responses = [json.dumps(entry, ensure_ascii=False)]
    assert entry["place"] == "颍州区 清河街道" and entry["unit"] == "颍州区清河街道"
    assert entry["category"] == "城市管理" and entry["status_label"] == "已答复"
    assert "王**女士" in entry["reply"] and "刘**" in entry["reply"]
    # Every page, walked by cursor: newest first, no ticket twice, the total holds.
    seen, cursor, pages = [], None, 0
    while True:
        r = await hall(service, page_size=10, **({"cursor": cursor} if cursor else {}))
        assert r.status_code == 200, r.text
        body = r.json()
        responses.append(r.text)
        seen += body["entries"]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    codes = [e["code"] for e in seen]
    assert len(codes) == len(set(codes)) == body["total"] == 25 and pages == 3
    stamps = [(e["updated_at"], e["code"]) for e in seen]
    assert stamps == sorted(stamps, reverse=True)
    hidden = {tickets["rejected"].code, tickets["report"].code}
    assert not hidden & set(codes)
    for code in hidden:
        assert (await service_get(service, f"/v1/hall/{code}")).status_code == 404
    # Search runs over masked text: a phone number or a name finds nothing.
    found = await hall(service, keyword="路灯")
    responses.append(found.text)
    assert {pii.code, tickets["taihe"].code} <= {e["code"] for e in found.json()["entries"]}
    for secret in ("13812345678", "王秀英", "李建国"):
        r = await hall(service, keyword=secret)
        assert r.status_code == 200 and r.json()["total"] == 0, secret
    by_county = await hall(service, county="太和县")
    assert [e["code"] for e in by_county.json()["entries"]] == [tickets["taihe"].code]
    by_status = await hall(service, status="replied")
    assert [e["code"] for e in by_status.json()["entries"]] == [pii.code]
    by_category = await hall(service, category="城市管理")
    assert by_category.json()["total"] == 2
    # Bad queries: a clear 4xx with the reason.
    for params in ({"cursor": "not-a-cursor"}, {"page_size": 0}, {"page_size": 51},
                   {"keyword": "路" * 41}):
        bad = await hall(service, **params)
        assert bad.status_code == 400 and bad.json()["detail"], params
    for text in responses:
        assert leaks(text) == [], leaks(text)


async def service_get(service, path: str):
    async with service.client() as public:
        return await public.get(path)


async def _count(service, tickets) -> bool:
    return (await hall(service)).json()["total"] == 25


async def _browser(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--virtual-time-budget=8000", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode == 0, f"chromium exited with {proc.returncode}"
    return out.decode()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_hall_page_renders_in_a_real_browser_without_personal_data(service, tickets):
    await service.until(lambda: _count(service, tickets), "the hall populated")
    dom = await _browser("--dump-dom", f"{service.url}/hall")
    assert "诉求大厅" in dom and 'lang="zh-CN"' in dom
    cards = re.findall(r'<li class="ticket" data-code="([-A-Z0-9]+)"', dom)
    assert len(cards) == 20  # the first page, rendered by the page's script
    assert tickets["pii"].code in dom and "已答复" in dom and "共 25 件" in dom
    assert "实时更新" in dom  # the live refresh ran
    assert "加载更多" in dom
    text = re.sub(r"<script.*?</script>", "", dom, flags=re.S)
    assert leaks(re.sub(r"<[^>]+>", " ", text)) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "feedback_hall_mobile.png"
    await _browser(f"--screenshot={shot}", "--window-size=390,844", f"{service.url}/hall")
    assert shot.stat().st_size > 10_000


async def test_rate_page_and_raw_pages_hold_no_personal_data(service, tickets):
    async with service.client() as public:
        for path in ("/hall", "/rate"):
            page = await public.get(path)
            assert page.status_code == 200 and "charset" in page.text
            assert leaks(page.text) == []


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
async def test_the_rate_page_says_why_a_link_is_refused_never_object_object(service):
    """A 422 carries a list of fields as its detail: the page said "[object Object]"; and a
    refusal was the service's English sentence ("rating link refused: malformed token")."""
    dom = await _browser("--dump-dom", f"{service.url}/rate?t={'a' * 1100}")
    what = re.search(r'<p id="what">(.*?)</p>', dom, flags=re.S).group(1)
    assert "object" not in what and "链接无效" in what, what
    dom = await _browser("--dump-dom", f"{service.url}/rate?t=FY-261207-00120-S~1~AAAA")
    what = re.search(r'<p id="what">(.*?)</p>', dom, flags=re.S).group(1)
    assert "评价链接无效" in what, what  # a refusal in the citizen's words, by its code


async def test_a_search_with_a_control_character_is_refused_with_a_reason(service):
    for params in ({"keyword": "路灯\x00"}, {"category": "\x00"}, {"county": "颍州区\x1b"},
                   {"status": "\x00"}):
        bad = await hall(service, **params)
        assert bad.status_code == 400, (params, bad.text)
        assert "control character" in bad.json()["detail"], bad.text
    ok = await hall(service, keyword="路灯\t")  # whitespace around a keyword is trimmed
    assert ok.status_code == 200


async def test_a_ticket_code_typed_in_the_search_box_finds_its_card(service, tickets):
    """Every card shows its 诉求码, and a citizen who has one types it into the search box:
    it found nothing (only the masked text was searched)."""
    await service.until(lambda: _count(service, tickets), "the hall populated")
    wanted = tickets["taihe"].code
    for typed in (wanted, wanted.lower(), wanted.replace("-", " "), f" {wanted} "):
        found = await hall(service, keyword=typed)
        assert found.status_code == 200, found.text
        assert [e["code"] for e in found.json()["entries"]] == [wanted], typed
        assert found.json()["total"] == 1
    hidden = await hall(service, keyword=tickets["report"].code)  # the hall never shows it
    assert hidden.json()["total"] == 0


async def test_the_public_pages_may_not_be_framed_and_send_no_referrer(service):
    async with service.client() as public:
        for path in ("/hall", "/rate?t=x"):
            page = await public.get(path)
            assert page.status_code == 200
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"], path
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["referrer-policy"] == "no-referrer"  # the link's credential


async def _answered(service, *, citizen: str) -> tuple[Ticket, str]:
    """A ticket answered to its citizen; its rating link's address (/rate?t=...)."""
    ticket = new_ticket()
    await service.publish(ticket, ticket.submitted(T0, text="小区门口路灯坏了一个月", citizen=citizen),
                          ticket.accepted(T0 + timedelta(minutes=1)),
                          ticket.assigned(T0 + timedelta(minutes=5)),
                          ticket.reviewed(T0 + timedelta(days=1), reply="已更换灯泡，路灯恢复照明。"))
    [notice] = await service.until(lambda: service.notices_of(ticket)[:1], "the citizen's notice")

    async def known() -> bool:
        async with service.client() as public:
            r = await public.get("/v1/ratings/link", params={"t": notice.rating_token})
            return r.status_code == 200
    await service.until(known, "the link known to feedback")
    return ticket, f"{service.url}/rate?t={notice.rating_token}"


@needs_browser()
async def test_the_rate_page_says_a_closed_ticket_needs_no_rating_before_the_citizen_writes(
        service):
    """A link to a ticket already closed (rated by another channel, called back, or past its
    window) showed the three choices and the comment box; only after choosing, writing and
    submitting was the citizen told "该诉求已办结，无需再评价"."""
    ticket, link = await _answered(service, citizen="citizen-closed-early")
    async with service.client("channel_adapter", sub="wechat-adapter") as adapter:
        closed = await adapter.post(f"/v1/tickets/{ticket.code}/rating",
                                    json={"rating": "satisfied", "citizen": "citizen-closed-early"})
        assert closed.status_code == 201 and closed.json()["status"] == "closed", closed.text
    async with browser_page(390, 844) as page:
        await page.goto(link)
        await page.wait_for_function("!document.getElementById('what').textContent.includes('核对')")
        assert "已办结" in await page.inner_text("#what")
        assert not await page.is_visible("#choices") and not await page.is_visible("#comment")
        assert page.errors == []


@needs_browser()
async def test_a_double_tap_on_the_rate_page_rates_once_and_says_it_was_received(service):
    """The submit button stayed live while the rating was sent: a double tap sent it twice
    and the second answer (409 already_rated) replaced "评价已提交" on the page."""
    ticket, link = await _answered(service, citizen="citizen-double-tap")
    async with browser_page(390, 844) as page:
        await page.goto(link)
        await page.wait_for_selector("#choices:not([hidden])")
        await page.click("#choices button[data-rating=basically_satisfied]")
        assert await page.get_attribute("#choices button[data-rating=basically_satisfied]",
                                        "aria-pressed") == "true"
        await page.dblclick("#submit")
        await page.wait_for_function(
            "!['', '正在提交…'].includes(document.getElementById('message').textContent)")
        await page.wait_for_timeout(500)  # a second answer, had one been asked for
        assert await page.inner_text("#message") == "评价已提交，感谢您的参与！"
        assert page.errors == []
    [rated] = await service.until(lambda: service.of(ticket, "TicketRated"), "TicketRated")
    assert rated.payload.rating == "basically_satisfied"


@needs_browser()
async def test_the_hall_at_a_phone_s_width_shows_load_more_only_while_there_is_more(
        service, tickets):
    """`#more { display: block }` outranked its `hidden` attribute: "加载更多" showed under
    an empty search and on the last page, and did nothing."""
    async def populated() -> bool:  # the tickets above, and the rate pages' own
        return (await hall(service)).json()["total"] >= 25
    await service.until(populated, "the hall populated")
    async with browser_page(390, 844) as page:
        await page.goto(f"{service.url}/hall")
        await page.wait_for_selector("li.ticket")
        assert await page.is_visible("#more")  # 25 shown tickets, 20 a page
        await page.fill("[name=keyword]", "没有这样的诉求")
        await page.press("[name=keyword]", "Enter")
        await page.wait_for_selector("li.empty")
        assert not await page.is_visible("#more")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        # the search survives a reload (it was lost: the whole hall again, filters empty)
        await page.fill("[name=keyword]", "井盖")
        await page.select_option("[name=status]", "accepted")
        await page.press("[name=keyword]", "Enter")
        await page.wait_for_function("document.getElementById('total').textContent === '共 23 件'")
        await page.reload()
        await page.wait_for_function("document.getElementById('total').textContent === '共 23 件'")
        assert await page.input_value("[name=keyword]") == "井盖"
        assert await page.input_value("[name=status]") == "accepted"
        assert page.errors == []


@needs_browser()
async def test_the_live_refresh_keeps_the_pages_the_reader_loaded(service, tickets):
    """Every 5 s the hall reloaded its first page while the reader was at the top: after
    加载更多 and a scroll back up, the pages already loaded vanished (20 cards again)."""
    async def populated() -> bool:
        return (await hall(service)).json()["total"] >= 25
    await service.until(populated, "the hall populated")
    async with browser_page(390, 844, mobile=True) as page:
        await page.goto(f"{service.url}/hall")
        await page.wait_for_function("document.querySelectorAll('li.ticket').length === 20")
        await page.click("#more")
        await page.wait_for_function("document.querySelectorAll('li.ticket').length > 20")
        shown = await page.eval_on_selector_all("li.ticket", "cards => cards.length")
        await page.evaluate("window.scrollTo(0, 0)")
        await page.wait_for_timeout(6_500)  # more than one refresh period (REFRESH_MS)
        assert await page.eval_on_selector_all("li.ticket", "cards => cards.length") == shown
        assert "暂停" in await page.inner_text("#live")  # the reader is told it waits
        await page.press("[name=keyword]", "Enter")  # a search shows the latest first page
        await page.wait_for_function("document.querySelectorAll('li.ticket').length === 20")
        await page.wait_for_function("document.getElementById('live').textContent"
                                     ".startsWith('实时更新 ')", timeout=8_000)
        assert not page.errors, page.errors
