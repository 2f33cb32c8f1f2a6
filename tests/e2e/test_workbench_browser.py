"""The workbench in a real browser (Playwright driving Debian's chromium), on an isolated
platform: log in, take calls and answer one from the knowledge base, filter and export the
list, sign for and reply as the unit, and see the audit ledger show it. Screenshots of each
page go to docs/screenshots/workbench-*.png when MINSHENG_SCREENSHOTS=docs/screenshots.

Accounts are made with the identity service's administrator command; the login form goes
through identity's POST /v1/sessions server-side, and logout revokes the token there.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import time
import uuid
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from tests.e2e.platform_harness import Platform, eventually

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The screenshots in docs/screenshots are refreshed on purpose (MINSHENG_SCREENSHOTS=docs/
# screenshots); an ordinary run writes under .data, so a test run never dirties the checkout.
SHOTS = Path(os.environ.get("MINSHENG_SCREENSHOTS")
             or Path(__file__).resolve().parents[2] / ".data" / "screenshots")
PASSWORD = "correct horse 12345"
SERVICES = ["identity", "intake", "dispatch", "sla", "feedback", "audit", "workbench"]
ROOT = Path(__file__).resolve().parents[2]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQ"
                       "DwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def add_user(platform, username: str, role: str, unit: str = "") -> None:
    """The administrator's command creates the account (password on standard input)."""
    done = subprocess.run(
        [sys.executable, "-m", "services.identity", "users", "add", username, "--role", role,
         "--unit", unit, "--name", username], input=PASSWORD + "\n", text=True,
        capture_output=True, env=platform.env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def platform(infra):
    p = Platform(names=SERVICES)
    p.env |= {"MINSHENG_IDENTITY_URL": p.url("identity"), "MINSHENG_INTAKE_URL": p.url("intake"),
              "MINSHENG_DISPATCH_URL": p.url("dispatch"),
              "MINSHENG_DISPATCH_GRPC": p.grpc_target("dispatch"),
              "MINSHENG_SLA_URL": p.url("sla"), "MINSHENG_FEEDBACK_URL": p.url("feedback"),
              "MINSHENG_AUDIT_URL": p.url("audit")}
    p.start_all()
    yield p
    p.stop_all()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"])
        yield chromium
        chromium.close()


def log_in(browser, platform, username: str, role: str, unit: str = ""):
    add_user(platform, username, role, unit)
    context = browser.new_context(accept_downloads=True, locale="zh-CN",
                                  viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(platform.url("workbench") + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#login")
    page.wait_for_selector("#who:has-text('" + username + "')")
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"workbench-{name}.png"), full_page=True)


def ticket_row(platform, code: str) -> dict:
    with platform.client("workbench", "dispatcher") as c:
        items = c.get("/v1/tickets", params={"q": code}).json()["items"]
    return items[0] if items else {}


def status_in(platform, code: str, *statuses: str) -> dict:
    row = ticket_row(platform, code)
    assert row.get("status") in statuses, (code, row.get("status"), row.get("unit"))
    return row


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_day_of_a_12345_centre(platform, browser):
    # -- a wrong password stays on the login page with the reason ---------------------------
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(platform.url("workbench") + "/login")
    page.fill("#username", "nobody")
    page.fill("#password", "wrong")
    page.click("#login")
    page.wait_for_selector("#message:has-text('用户名或密码错误')")  # told by identity: 401
    shot(page, "login")
    context.close()

    # -- the operator takes a complaint, then a question answered from the knowledge base ----
    operator = log_in(browser, platform, "op-zhou", "channel_adapter")
    operator.wait_for_selector("#view-hotline:not([hidden])")
    operator.fill("#call [name=caller_number]", "13800001111")
    operator.fill("#call [name=address]", "颍州区清河路阳光小区")
    operator.fill("#call [name=summary]", "阳光小区门口路灯不亮已经一周，晚上出行不安全")
    operator.click("#submit-call")
    operator.wait_for_selector("#call-result:has-text('工单编号')")
    lamp = operator.get_attribute("#call-result", "data-code")
    eventually(lambda: status_in(platform, lamp, "assigned", "queued"), timeout=60,
               what="the complaint routed")
    if ticket_row(platform, lamp)["status"] == "queued":
        with platform.client("dispatch", "dispatcher") as c:
            assert c.post(f"/v1/tickets/{lamp}/assign", json={"unit": "yingzhou"}).is_success
        eventually(lambda: status_in(platform, lamp, "assigned"), timeout=30,
                   what="the complaint assigned")
    unit = ticket_row(platform, lamp)["unit"]

    operator.fill("#call [name=caller_number]", "13800002222")
    operator.fill("#call [name=address]", "清河路阳光小区")
    operator.fill("#call [name=summary]", "阳光小区路灯坏了")  # a likely duplicate shows
    operator.wait_for_selector(f"#similar li[data-code='{lamp}']")
    operator.fill("#call [name=summary]", "请问市政务服务中心周六上午能办事吗")
    operator.check("#call [name=anonymous]")
    operator.fill("#call [name=address]", "")
    operator.fill("#kb-q", "政务服务中心 上班时间")
    operator.wait_for_selector("#kb li.kb")
    assert "来源" in operator.inner_text("#kb li.kb >> nth=0")
    operator.click("#kb li.kb >> nth=0 >> button.use")
    operator.wait_for_selector("#chosen:has-text('当场答复')")
    shot(operator, "hotline")
    operator.click("#submit-call")
    operator.wait_for_selector("#call-result:has-text('已当场答复')")
    question = operator.get_attribute("#call-result", "data-code")
    # 解惑: not dispatched; feedback takes the answer as the reply, so the citizen may rate it
    eventually(lambda: status_in(platform, question, "notified"), timeout=30,
               what="the on-the-spot answer delivered to the citizen")
    answered = ticket_row(platform, question)
    assert answered["unit"] == "city" and "政务服务中心" in answered["reply_masked"]
    with platform.client("feedback", "channel_adapter") as c:  # the caller rates it by SMS
        rated = c.post(f"/v1/tickets/{question}/rating", json={"rating": "dissatisfied"})
        assert rated.status_code == 201, rated.text

    # -- the next call is a plain complaint, sent with a double click: one ticket, dispatched
    # (the knowledge-base answer stuck to every later call, and a double click made two)
    marker = f"井盖松动{uuid.uuid4().hex[:6]}"
    operator.uncheck("#call [name=anonymous]")
    operator.fill("#call [name=caller_number]", "13800003333")
    operator.fill("#call [name=address]", "颍州区清河路阳光小区北门")
    operator.fill("#call [name=summary]", f"阳光小区北门{marker}，车辆经过响声很大，怕砸到人")
    operator.dblclick("#submit-call")
    operator.wait_for_selector(f"#call-result:has-text('工单编号'):not([data-code='{question}'])")
    manhole = operator.get_attribute("#call-result", "data-code")
    assert "已当场答复" not in operator.inner_text("#call-result")
    eventually(lambda: status_in(platform, manhole, "assigned", "queued"), timeout=60,
               what="the plain call dispatched, not answered on the spot")
    with platform.client("workbench", "dispatcher") as c:
        made = c.get("/v1/tickets", params={"q": marker}).json()["items"]
    assert [t["code"] for t in made] == [manhole]  # one ticket for the double click

    # -- the dispatcher filters the list and exports exactly that -----------------------------
    dispatcher = log_in(browser, platform, "disp-li", "dispatcher")
    dispatcher.wait_for_selector("#view-list:not([hidden])")
    dispatcher.fill("#filters [name=q]", "路灯")
    dispatcher.select_option("#filters [name=county]", "yingzhou")
    dispatcher.click("#search")
    dispatcher.wait_for_selector(f"#rows[data-query*='county=yingzhou'] tr[data-code='{lamp}']")
    shown = dispatcher.eval_on_selector_all("#rows tr", "rs => rs.map(r => r.dataset.code)")
    shot(dispatcher, "list")
    with dispatcher.expect_download() as download:
        dispatcher.click("#export")
    rows = list(load_workbook(BytesIO(Path(download.value.path()).read_bytes())).active.values)
    assert rows[0][0] == "工单编号" and "诉求内容（已脱敏）" in rows[0]
    assert [r[0] for r in rows[1:]] == shown and lamp in shown
    assert all("13800001111" not in str(cell) for r in rows for cell in r)

    # -- the callback queue: the dissatisfied caller is called back, one click records it -----
    dispatcher.goto(platform.url("workbench") + "/#callbacks")
    dispatcher.wait_for_selector(f"#callback-rows tr[data-code='{question}']")
    shot(dispatcher, "callbacks")
    dispatcher.click(f"#callback-rows tr[data-code='{question}'] button:has-text('基本满意')")
    dispatcher.wait_for_selector(f"#flash:has-text('{question} 已记录')")
    eventually(lambda: status_in(platform, question, "closed"), timeout=30,
               what="the called-back ticket closed")

    # -- a supervisor presses the unit (督办) through sla's API ---------------------------------
    ticket_id = ticket_row(platform, lamp)["ticket_id"]

    def order_issued() -> bool:
        with platform.client("sla", "supervisor", sub="sup-wang") as c:
            return c.post("/v1/supervision-orders", json={
                "ticket_id": ticket_id, "reason": "群众反映强烈，请加快办理",
                "request_id": f"order-{ticket_id}"}).status_code == 201
    eventually(order_issued, timeout=30, what="sla to know the ticket and take the order")

    # -- the unit answers the order, signs for and replies with a photo ----------------------
    desk = log_in(browser, platform, f"{unit}-staff", "unit", unit)
    desk.wait_for_selector(f".order[data-code='{lamp}'] button.answer-order")
    desk.once("dialog", lambda dialog: dialog.accept("已安排维修班组今日到场处理。"))
    desk.click(f".order[data-code='{lamp}'] button.answer-order")
    desk.wait_for_selector("#flash:not(:has-text('提交中'))")
    assert desk.inner_text("#flash") == "已提交", desk.inner_text("#flash")
    desk.wait_for_selector(f".assignment[data-code='{lamp}'] button.sign-for")
    desk.click(f".assignment[data-code='{lamp}'] button.sign-for")
    form = f".assignment[data-code='{lamp}'] form.reply-form"
    desk.wait_for_selector(form)
    answers = ["2", "需协调供电部门更换线路"]  # 申请延期: working days, then the reason
    desk.on("dialog", lambda dialog: dialog.accept(answers.pop(0)) if answers else dialog.dismiss())
    desk.click(f".assignment[data-code='{lamp}'] button:has-text('申请延期')")
    desk.wait_for_selector("#flash:not(:has-text('提交中'))")
    assert desk.inner_text("#flash") == "已提交", desk.inner_text("#flash")
    desk.wait_for_selector(form)
    desk.fill(f"{form} textarea", "已安排维修人员更换灯具，路灯已恢复照明。")
    desk.set_input_files(f"{form} input[type=file]", files=[
        {"name": "现场照片.png", "mimeType": "image/png", "buffer": PNG}])
    shot(desk, "desk")
    desk.click(f"{form} button[type=submit]")
    desk.wait_for_selector("#flash:not(:has-text('提交中'))")
    assert desk.inner_text("#flash") == "已提交", desk.inner_text("#flash")
    eventually(lambda: status_in(platform, lamp, "replied", "dispatch_closed", "notified"),
               timeout=30, what="the reply recorded")
    assert "〔附件：" in ticket_row(platform, lamp)["reply_masked"]

    # -- the supervisor sees it in the ledger ------------------------------------------------
    supervisor = log_in(browser, platform, "sup-wang", "supervisor")
    supervisor.goto(platform.url("workbench") + f"/#ticket/{lamp}")
    deadline = time.monotonic() + 30
    while not supervisor.locator("#timeline li[data-event='AssignmentReplied']").count():
        assert time.monotonic() < deadline, "the ledger never showed the reply"
        supervisor.reload()
        supervisor.wait_for_selector("#ticket h2")
    events = supervisor.eval_on_selector_all("#timeline li", "ls => ls.map(l => l.dataset.event)")
    assert events.index("AssignmentSignedFor") < events.index("AssignmentReplied")
    assert "SupervisionOrderAnswered" in events
    assert "ExtensionRequested" in events
    link = supervisor.get_attribute("a.attachment", "href")  # the reply's photo, same origin
    photo = supervisor.request.get(platform.url("workbench") + link)
    assert photo.ok and photo.body() == PNG and photo.headers["content-type"] == "image/png"
    assert "已安排维修班组" in supervisor.inner_text(".order[data-status='answered']")
    shot(supervisor, "ticket")

    # -- logging out clears the session -----------------------------------------------------
    token = next(c["value"] for c in supervisor.context.cookies()
                 if c["name"] == "minsheng_session")
    assert next(c for c in supervisor.context.cookies() if c["name"] == "minsheng_session")[
        "httpOnly"]
    supervisor.click("#logout")
    supervisor.wait_for_selector("#message:has-text('已退出登录')")
    assert not [c for c in supervisor.context.cookies() if c["name"] == "minsheng_session"]
    eventually(lambda: httpx.get(platform.url("workbench") + "/v1/me", headers={
        "authorization": f"Bearer {token}"}).status_code == 401, timeout=30,
        what="the logged-out token refused (revoked by identity)")
