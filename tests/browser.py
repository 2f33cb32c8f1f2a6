"""Playwright (Python) driving Debian's chromium: nothing is downloaded; tests that need it
skip where /usr/bin/chromium or the playwright package is missing."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

# Pixels of a <canvas> that are not blank: how a test knows ECharts drew something.
PAINTED_PIXELS = """canvas => {
  const ctx = canvas.getContext("2d");
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0;
  for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
  return n;
}"""


def browser_ready() -> bool:
    """The playwright package and Debian's chromium are both here."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which("chromium"))


def needs_browser() -> Any:
    return pytest.mark.skipif(not browser_ready(),
                              reason="needs the playwright package and Debian's chromium")


@contextlib.asynccontextmanager
async def browser_page(width: int = 1280, height: int = 1800,
                       mobile: bool = False) -> AsyncIterator[Any]:
    """A fresh page; console errors are collected in `page.errors`. `mobile`: a phone's
    browser (the page's viewport meta decides its layout width, touch events)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": width, "height": height},
                                          is_mobile=mobile, has_touch=mobile)
            page.errors = []
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            yield page
        finally:
            await browser.close()


async def painted(page: Any, selector: str) -> int:
    """Non-blank pixels of the first canvas inside `selector` (0 when there is none)."""
    canvas = page.locator(f"{selector} canvas").first
    if await canvas.count() == 0:
        return 0
    return await canvas.evaluate(PAINTED_PIXELS)
