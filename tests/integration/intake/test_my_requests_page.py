"""我的诉求 in a real browser: a citizen who wrote through the mini-program proves their phone by SMS
(development: the code comes back on the page), sees their ticket, its progress and the
answer feedback published, and rates it (passed on to feedback with their own token)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from minsheng.v1 import feedback_events_pb2

from backbone import auth, events
from services.intake.adapters.ticket_index import TicketIndex
from services.intake.settings import IntakeSettings
from tests import janitor
from tests.browser import browser_page, needs_browser
from tests.integration.intake.conftest import Intake, _free_port, running_intake
from tests.waiting import eventually_async, patient

pytestmark = [pytest.mark.integration, needs_browser()]
BEIJING = ZoneInfo("Asia/Shanghai")
ANSWER = "经核查，东城小区北门井盖已于今日更换加固，感谢您的反映。"


@contextlib.asynccontextmanager
async def fake_feedback() -> Any:
    """Feedback's rating endpoint: records what it is given, checks the citizen's token."""
    ratings: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/v1/tickets/{code}/rating", status_code=201)
    async def rate(code: str, request: Request) -> dict[str, Any]:
        token = request.headers["authorization"].removeprefix("Bearer ")
        ratings.append({"code": code, "token": token, **(await request.json())})
        return {"code": code, "status": "rated", "verdict": "satisfied"}

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        assert not task.done(), "the fake feedback service stopped before it started"
        return server.started
    await eventually_async(started, timeout=10, interval=0.05, what="the fake feedback service")
    try:
        yield f"http://127.0.0.1:{port}", ratings
    finally:
        server.should_exit = True
        await task


async def test_a_citizen_signs_in_by_sms_sees_the_answer_and_rates_it(infra):
    unique = janitor.claim(uuid.uuid4().hex[:10])
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    async with fake_feedback() as (feedback_url, ratings):
        settings = IntakeSettings(
            environment="test", http_port=_free_port(), pg_dbname="intake_it",
            pg_schema=f"it_me_{unique}", topic_prefix=f"itme{unique}.", relay_interval_ms=20,
            intake_feedback_url=feedback_url)
        async with running_intake(settings) as intake:
            code, ticket_id = await submit(intake, phone)
            await answer(intake, ticket_id, code)
            # the page reads the citizen's tickets once, at sign-in: sign in once intake's
            # read side holds the answer (its consumer may still be joining its group)
            await recorded(intake, ticket_id, lambda row: row.get("answer_masked") == ANSWER)
            async with browser_page(width=420, height=900) as page:
                await sign_in(page, intake, phone)
                card = page.locator(f'article.ticket[data-code="{code}"]')
                await card.wait_for(timeout=30_000)
                await page.wait_for_function(
                    f"document.querySelector('article[data-code=\"{code}\"] .answer')",
                    timeout=30_000)
                assert ANSWER in await card.locator(".answer").text_content()
                assert await card.locator(".steps").get_attribute("data-stage") == "3"
                # when it was written, in the citizen's time (the API's UTC was shown as is)
                shown_at = datetime.strptime(await card.locator("span.muted").first.text_content(),
                                             "%Y-%m-%d %H:%M").replace(tzinfo=BEIJING)
                assert abs(shown_at - datetime.now(BEIJING)) < timedelta(minutes=10), shown_at
                assert phone not in await page.content()  # the page never shows the number
                await card.locator('button[data-rating="satisfied"]').click()
                await card.locator(".rated").wait_for(timeout=15_000)
                await page.screenshot(path="/tmp/my-requests.png", full_page=True)
                assert not page.errors, page.errors
            [rated] = ratings
            assert rated["code"] == code and rated["rating"] == "satisfied"
            assert auth.verify(settings, rated["token"]).role == "citizen"

            # feedback's TicketRated reaches intake: the page shows the rating, asks no more
            rated_event = events.make_envelope(
                payload=feedback_events_pb2.TicketRated(rating="satisfied", via="channel",
                                                        unit="u1", reply_round=1),
                event_id=events.event_id_for(f"fb:{ticket_id}", 10), ticket_id=ticket_id,
                ticket_code=code, producer="feedback", occurred_at=datetime.now(UTC))
            await intake.publish("tickets.events", ticket_id, rated_event.SerializeToString())
            await recorded(intake, ticket_id, lambda row: row.get("rating") == "satisfied")
            async with browser_page(width=420, height=900) as page:
                await sign_in(page, intake, phone)
                shown = page.locator(f'article.ticket[data-code="{code}"] p.rated')
                await shown.wait_for(timeout=30_000)
                assert "满意" in await shown.text_content()
                assert await page.locator("button[data-rating]").count() == 0

            # someone else's ticket cannot be rated through intake
            other = auth.mint(settings, sub="someone-else", role="citizen",
                              audience=["intake", "feedback"])
            async with httpx.AsyncClient(base_url=intake.url, timeout=10) as http:
                refused = await http.post(f"/v1/citizens/me/tickets/{code}/rating",
                                          json={"rating": "dissatisfied"},
                                          headers={"authorization": f"Bearer {other}"})
                assert refused.status_code == 404
                bad = await http.post(f"/v1/citizens/me/tickets/{code}/rating",
                                      json={"rating": "great"},
                                      headers={"authorization": f"Bearer {other}"})
                assert bad.status_code == 422

            # the right to erasure, from the page itself (it was an API call only)
            async with browser_page(width=420, height=900) as page:
                await sign_in(page, intake, phone)
                await page.locator(f'article.ticket[data-code="{code}"]').wait_for(timeout=30_000)
                page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
                await page.click("#erase")
                await page.wait_for_function("document.body.dataset.erased === '1'",
                                             timeout=30_000)
                assert "已删除" in await page.locator("#erase-msg").text_content()
                assert await page.locator("article.ticket").count() == 0
                assert not page.errors, page.errors
            async with intake.client("dispatcher") as staff:
                gone = await staff.get(f"/v1/tickets/{code}/contact")
                assert gone.status_code == 410, gone.text


async def sign_in(page: Any, intake: Intake, phone: str) -> None:
    """/me, signed in as the citizen with ``phone`` by the SMS code (the development gateway
    fills the code in)."""
    await page.goto(f"{intake.url}/me")
    await page.fill("#phone", phone)
    await page.click("#send-code")
    await page.wait_for_function("document.querySelector('#code').value.length == 6")
    await page.click("#sign-in")


async def recorded(intake: Intake, ticket_id: str, until: Any) -> None:
    """Wait until intake's read model shows what was published about the ticket."""
    index = TicketIndex(intake.service.infra.pool, intake.settings.schema)  # type: ignore[attr-defined]
    deadline = time.monotonic() + patient(60)
    row: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        row = await asyncio.to_thread(index.by_id, ticket_id)
        if row is not None and until(row):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"intake's read model never showed it: {row and sorted(row)}")


async def submit(intake: Intake, phone: str) -> tuple[str, str]:
    async with intake.client() as adapter:
        made = await adapter.post("/v1/requests", json={
            "channel": "wechat_mini", "request_id": uuid.uuid4().hex,
            "text": "东城小区北门的井盖松动了，车压过去响得厉害", "contact": {"phone": phone}})
        assert made.status_code == 201, made.text
    body = made.json()
    return body["code"], body["ticket_id"]


async def answer(intake: Intake, ticket_id: str, code: str) -> None:
    """What feedback publishes when the answer reaches the citizen (CitizenNotified)."""
    env = events.make_envelope(
        payload=feedback_events_pb2.CitizenNotified(channel="wechat_mini", unit="u1",
                                                    outcome="resolved", reply_masked=ANSWER,
                                                    reply_round=1, notices=1),
        event_id=events.event_id_for(f"fb:{ticket_id}", 9), ticket_id=ticket_id,
        ticket_code=code, producer="feedback", occurred_at=datetime.now(UTC))
    await intake.publish("tickets.events", ticket_id, env.SerializeToString())


async def test_a_citizen_is_told_what_went_wrong_in_chinese(infra):
    # the page showed the API's English (and pydantic's) reasons: "String should have at
    # least 11 characters", "the code is wrong or expired; ask for a new one"
    unique = janitor.claim(uuid.uuid4().hex[:10])
    settings = IntakeSettings(
        environment="test", http_port=_free_port(), pg_dbname="intake_it",
        pg_schema=f"it_me_{unique}", topic_prefix=f"itme{unique}.", relay_interval_ms=20)
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    async with running_intake(settings) as intake, \
            browser_page(width=420, height=900) as page:
        await page.goto(f"{intake.url}/me")
        message = page.locator("#login-msg")
        for typed in ("12345", "23812345678"):
            await page.fill("#phone", typed)
            await page.click("#send-code")
            await page.wait_for_function(
                "document.querySelector('#login-msg').textContent.includes('手机号码')")
            await page.wait_for_function("!document.querySelector('#send-code').disabled")
        await page.fill("#phone", phone.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
        await page.click("#send-code")  # typed in full width, as a Chinese IME may
        await page.wait_for_function("document.querySelector('#code').value.length == 6")
        code = await page.input_value("#code")
        await page.fill("#code", f"{(int(code) + 1) % 10**6:06d}")
        await page.click("#sign-in")
        await page.wait_for_function(
            "document.querySelector('#login-msg').textContent.includes('验证码不正确')")
        await page.fill("#code", "12")
        await page.click("#sign-in")
        await page.wait_for_function(
            "document.querySelector('#login-msg').textContent.includes('6 位数字验证码')")
        assert not any(c.isascii() and c.isalpha() for c in await message.text_content())
        assert not page.errors, page.errors


async def test_a_citizen_sees_that_the_unit_needs_longer_and_by_when(infra):
    """A 需较长时间办理 explanation (CitizenNotified needs_longer) was dropped by intake: /me
    showed the ticket as merely in hand, without the reason or the expected day."""
    unique = janitor.claim(uuid.uuid4().hex[:10])
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    settings = IntakeSettings(
        environment="test", http_port=_free_port(), pg_dbname="intake_it",
        pg_schema=f"it_me_{unique}", topic_prefix=f"itme{unique}.", relay_interval_ms=20)
    why = "需协调供水、燃气两家单位联合施工"
    async with running_intake(settings) as intake:
        code, ticket_id = await submit(intake, phone)
        env = events.make_envelope(
            payload=feedback_events_pb2.CitizenNotified(
                channel="wechat_mini", unit="u1", outcome="needs_longer", reply_masked=why,
                reply_round=0, notices=1, expected_by="2026-12-31"),
            event_id=events.event_id_for(f"fb:{ticket_id}", 3), ticket_id=ticket_id,
            ticket_code=code, producer="feedback", occurred_at=datetime.now(UTC))
        await intake.publish("tickets.events", ticket_id, env.SerializeToString())
        await recorded(intake, ticket_id, lambda row: row.get("interim_masked") == why)
        async with browser_page(width=390, height=844) as page:
            await sign_in(page, intake, phone)
            card = page.locator(f'article.ticket[data-code="{code}"]')
            await card.wait_for(timeout=30_000)
            shown = await card.locator(".interim").text_content()
            assert why in shown and "预计 2026年12月31日 前办结" in shown
            assert await card.locator(".answer").count() == 0  # not an answer
            assert await card.locator("button[data-rating]").count() == 0  # nothing to rate
            assert not page.errors, page.errors
