"""The login page in a real browser (Debian's chromium): wrong password, then a login that
keeps the token in sessionStorage["minsheng.token"] and goes to ?next=."""

from __future__ import annotations

import uuid

from backbone import auth
from backbone.settings import ServiceSettings
from tests.browser import browser_page, needs_browser

PASSWORD = "browser-test-密码-2026"


@needs_browser()
async def test_a_staff_member_logs_in_through_the_page(identity):
    name = f"b{uuid.uuid4().hex[:8]}"
    identity.add_user(name, PASSWORD, role="unit", unit="yingzhou", name="赵强")
    async with browser_page(1024, 768) as page:
        await page.goto(f"{identity.url}/login?next=/v1/sessions/current")
        assert await page.title() == "民声 · 工作人员登录"
        await page.fill("#username", name)
        await page.fill("#password", "wrong-password-123")
        await page.click("#submit")
        await page.wait_for_selector("#message:has-text('用户名或密码错误')")
        await page.fill("#password", PASSWORD)
        await page.click("#submit")
        await page.wait_for_url(lambda url: "/login" not in url
                                and url.endswith("/v1/sessions/current"))
        token = await page.evaluate("sessionStorage.getItem('minsheng.token')")
        user = await page.evaluate("JSON.parse(sessionStorage.getItem('minsheng.user'))")
        assert page.errors == []
    assert (user["display_name"], user["role"], user["unit"]) == ("赵强", "unit", "yingzhou")
    who = auth.verify(ServiceSettings(environment="test", service="workbench",
                                      token_revocation_check=False), token)
    assert (who.sub, who.role, who.unit) == (name, "unit", "yingzhou")
