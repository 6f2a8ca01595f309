"""The browser side of the inbox tests: Debian's chromium under Playwright, one per module,
a profile where alice signed in once through the login form, and watched pages: a dialog, a
script error, a console error or a Content-Security-Policy violation fails the test."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Page,
    async_playwright,
    expect,
)

from examples.store.settings import store_db_path
from handrail.settings import HandrailSettings
from tests.http.test_http_api import TOKENS, Api
from tests.inbox_kit import artifacts

CHROMIUM: Final = Path("/usr/bin/chromium")
# As the machine notes say: headless, no sandbox (CI runs as root), and nothing that reaches
# for the network on its own (the machine's closed network refuses it, noisily).
CHROMIUM_ARGS: Final = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Reported from inside the page before any of its own scripts run (an init script is not
# subject to the page's policy), so every violation reaches the test as a console error.
REPORT_VIOLATIONS: Final = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI}`);
});
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"the browser test needs Debian's chromium at {CHROMIUM} (.ci/run installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Watched:
    """A page and everything untoward it showed: dialogs, script errors, console errors."""

    page: Page
    troubles: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.troubles == [], self.troubles


async def watched_page(context: BrowserContext) -> Watched:
    page = await context.new_page()
    watched = Watched(page)

    async def on_dialog(dialog: Dialog) -> None:
        watched.troubles.append(f"dialog: {dialog.message}")
        await dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.troubles.append(f"console: {message.text}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.troubles.append(f"script error: {error}"))
    await page.add_init_script(REPORT_VIOLATIONS)
    return watched


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def signed_in(browser: Browser, page_api: Api) -> AsyncIterator[BrowserContext]:
    """A browser profile where alice signed in once, through the login form."""
    context = await browser.new_context(viewport={"width": 1100, "height": 1300})
    watched = await watched_page(context)
    await log_in(watched.page, page_api, "alice")
    await watched.page.close()
    watched.assert_clean()
    yield context
    await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def alice(signed_in: BrowserContext) -> AsyncIterator[Watched]:
    """A fresh page of alice's; the test fails on anything untoward it showed."""
    watched = await watched_page(signed_in)
    yield watched
    await watched.page.close()
    watched.assert_clean()


async def log_in(page: Page, api: Api, who: str) -> None:
    await page.goto(f"{api.url}/inbox")
    await expect(page).to_have_url(f"{api.url}/inbox/login")
    await page.fill("#token", TOKENS[who])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".who")).to_contain_text(who)


async def screenshot(page: Page, name: str) -> None:
    await page.screenshot(path=str(artifacts() / name), full_page=True)


def store_rows(settings: HandrailSettings, table: str, task_id: str) -> list[tuple[int, str]]:
    with sqlite3.connect(store_db_path(settings)) as store:
        rows = store.execute(
            f"SELECT amount_cents, reason FROM {table} WHERE task_id = ?",
            (task_id,),
        ).fetchall()
    return [(int(cents), str(reason)) for cents, reason in rows]
