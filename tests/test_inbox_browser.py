"""The inbox in a real browser: Debian's chromium driven by Playwright (never Playwright's own
browser download, which fails offline) logs in with a reviewer's token, approves a pending
refund with a click, and sees another reviewer's decision land without a reload. Screenshots
are saved under test-artifacts/."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect
from temporalio.client import Client

from handrail.settings import HandrailSettings
from tests.test_http_api import TOKENS, Api, serve_gateway

CHROMIUM: Final = Path("/usr/bin/chromium")
ARTIFACTS: Final = Path(__file__).resolve().parent.parent / "test-artifacts"
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

pytestmark = pytest.mark.usefixtures("worker")


@pytest_asyncio.fixture
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


def save(shot: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / shot.name)


async def log_in(page: Page, api: Api, who: str) -> None:
    await page.goto(f"{api.url}/inbox")
    await expect(page).to_have_url(f"{api.url}/inbox/login")
    await page.fill("#token", TOKENS[who])
    await page.click("button[type=submit]")
    await expect(page.locator(".who")).to_contain_text(who)


async def test_a_reviewer_approves_a_refund_with_a_click(
    browser: Browser, client: Client, settings: HandrailSettings, tmp_path: Path
) -> None:
    async with serve_gateway(client, settings) as api:
        clicked = (await api.start()).json()["task_id"]
        other = (await api.start()).json()["task_id"]
        await api.wait_pending(clicked)
        other_step = (await api.wait_pending(other))["step"]

        page = await browser.new_page(viewport={"width": 1100, "height": 1300})
        await log_in(page, api, "alice")
        card = page.locator(f"article[data-task='{clicked}']")
        await expect(card).to_contain_text("issue_refund")
        await expect(card).to_contain_text("80.00")
        await expect(card).to_contain_text("is above 50")  # the policy's reason
        shot = tmp_path / "inbox-pending.png"
        await page.screenshot(path=str(shot), full_page=True)
        save(shot)

        await card.get_by_role("button", name="Approve").click()
        await expect(page.locator(".flash")).to_contain_text(f"You approved {clicked}")
        await expect(page.locator(f"article[data-task='{clicked}']")).to_have_count(0)

        # Another reviewer decides elsewhere: the open page drops the card by itself.
        await expect(page.locator(f"article[data-task='{other}']")).to_have_count(1)
        decided = await api.review(other, "bob", step=other_step, verdict="reject")
        assert decided.status_code == 200, decided.text
        await expect(page.locator(f"article[data-task='{other}']")).to_have_count(0)

        done = await api.wait_done(clicked)
        assert done["status"] == "answered"
        [reviewed] = [s for s in done["result"]["steps"] if s.get("review")]
        assert reviewed["review"]["reviewer"] == "alice"

        await page.goto(f"{api.url}/inbox/tasks/{clicked}")
        await expect(page.locator("#status")).to_have_text("answered")
        await expect(page.locator(".timeline")).to_contain_text("by alice")
        shot = tmp_path / "inbox-task-answered.png"
        await page.screenshot(path=str(shot), full_page=True)
        save(shot)
