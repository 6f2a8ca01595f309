"""The inbox in a real browser: Debian's chromium driven by Playwright (never Playwright's own
browser download, which fails offline). A reviewer logs in with a token and does what a person
does, with every button and form: approves and rejects from the list, sees another reviewer's
decision land without a reload, edits an amount (watching the diff), answers instead of the
agent, rejects with a comment (the task's earlier discount is undone), reviews a proposal
whose text carries markup and attribute breakouts (all of it stays text; markup forced into
the page does not run), confirms a review link, and logs out. Every page is watched: a
dialog, a script error, a console error or a Content-Security-Policy violation fails the test.
Screenshots are saved under test-artifacts/."""

from __future__ import annotations

import asyncio
import uuid
from typing import Final

from playwright.async_api import Page, Route, expect

from handrail.settings import HandrailSettings
from tests.http.test_http_api import Api
from tests.inbox_browser_kit import (
    Watched,
    alice,
    browser,
    log_in,
    screenshot,
    signed_in,
    store_rows,
)
from tests.inbox_kit import (
    HOSTILE,
    HOSTILE_MARK,
    HOSTILE_TASK_ID_TAIL,
    link_for,
    page_api,
    page_settings,
    start_hostile,
)

# Module-scoped fixtures (one browser, one worker and gateway for the module) used here.
__all__ = ["alice", "browser", "page_api", "page_settings", "signed_in"]

# What the hostile text would have added to the DOM, were it markup (none of it may exist).
FIND_INJECTED: Final = """() => {
  const found = [];
  for (const element of document.querySelectorAll("*")) {
    for (const attribute of element.attributes) {
      if (attribute.name.startsWith("on")) found.push(`${element.tagName} ${attribute.name}`);
    }
    if (element.id.startsWith("injected")) found.push(`#${element.id}`);
  }
  for (const script of document.scripts) {
    const ours = script.type === "application/json" || script.src.includes("/inbox/static/");
    if (!ours) found.push(`script ${script.outerHTML.slice(0, 80)}`);
  }
  if (document.querySelector("img, iframe, object, embed, base")) found.push("foreign element");
  if (document.activeElement && document.activeElement.hasAttribute("autofocus")) {
    found.push(`autofocus on ${document.activeElement.tagName}`);
  }
  return found;
}"""


async def assert_inert(page: Page) -> None:
    assert await page.evaluate(FIND_INJECTED) == [], page.url


async def test_a_reviewer_approves_and_rejects_from_the_list(page_api: Api, alice: Watched) -> None:
    approved, other, rejected = [(await page_api.start()).json()["task_id"] for _ in range(3)]
    for task_id in (approved, rejected):
        await page_api.wait_pending(task_id)
    other_step = (await page_api.wait_pending(other))["step"]
    page = alice.page
    await page.goto(f"{page_api.url}/inbox")
    card = page.locator(f"article[data-task='{approved}']")
    await expect(card).to_contain_text("issue_refund")
    await expect(card).to_contain_text("80.00")
    await expect(card).to_contain_text("is above 50")  # the policy's reason
    await screenshot(page, "inbox-pending.png")

    await card.get_by_role("button", name="Approve").click()
    await expect(page.locator(".flash")).to_contain_text(f"You approved {approved}")
    await expect(page.locator(f"article[data-task='{approved}']")).to_have_count(0)

    await (
        page.locator(f"article[data-task='{rejected}']")
        .get_by_role("button", name="Reject (rolls back)")
        .click()
    )
    await expect(page.locator(".flash")).to_contain_text(f"You rejected {rejected}")

    # Another reviewer decides elsewhere: the open page drops the card by itself.
    await expect(page.locator(f"article[data-task='{other}']")).to_have_count(1)
    decided = await page_api.review(other, "bob", step=other_step, verdict="reject")
    assert decided.status_code == 200, decided.text
    await expect(page.locator(f"article[data-task='{other}']")).to_have_count(0)

    assert (await page_api.wait_done(rejected))["status"] == "rejected"
    done = await page_api.wait_done(approved)
    assert done["status"] == "answered"
    [reviewed] = [s for s in done["result"]["steps"] if s.get("review")]
    assert reviewed["review"]["reviewer"] == "alice"

    await page.goto(f"{page_api.url}/inbox/tasks/{approved}")
    await expect(page.locator("#status")).to_have_text("answered")
    await expect(page.locator(".timeline")).to_contain_text("by alice")
    await screenshot(page, "inbox-task-answered.png")


async def test_a_reviewer_edits_the_amount_and_the_edit_runs_once(
    page_api: Api, alice: Watched, page_settings: HandrailSettings
) -> None:
    task_id = (await page_api.start()).json()["task_id"]
    await page_api.wait_pending(task_id)
    page = alice.page
    await page.goto(f"{page_api.url}/inbox")
    await (
        page.locator(f"article[data-task='{task_id}']")
        .get_by_role("link", name="Edit, answer, trace →")
        .click()
    )
    edit = page.locator("form.edit")
    await expect(edit.locator(".diff")).to_have_text("No change yet.")
    await edit.get_by_label("amount").fill("60.00")
    await expect(edit.locator(".diff")).to_have_text('amount: "80.00" → "60.00"')
    await edit.get_by_label("Comment").fill("Half the stove was fine.")
    await screenshot(page, "inbox-edit-diff.png")
    await edit.get_by_role("button", name="Approve with these arguments").click()
    await expect(page.locator(".flash")).to_have_text("You edited and approved this step.")

    done = await page_api.wait_done(task_id)
    assert done["status"] == "answered"
    [reviewed] = [s for s in done["result"]["steps"] if s.get("review")]
    assert reviewed["review"]["verdict"] == "edit"
    assert reviewed["review"]["arguments"]["amount"] == "60.00"
    assert store_rows(page_settings, "refunds", task_id) == [(6000, "requested by the customer")]
    await expect(page.locator("#status")).to_have_text("answered")  # the page caught up
    await expect(page.locator(".timeline del")).to_have_text('"80.00"')
    await expect(page.locator(".timeline ins")).to_have_text('"60.00"')
    await screenshot(page, "inbox-edit-done.png")


async def test_a_reviewer_answers_instead_of_the_agent(page_api: Api, alice: Watched) -> None:
    task_id = (await page_api.start()).json()["task_id"]
    await page_api.wait_pending(task_id)
    page = alice.page
    await page.goto(f"{page_api.url}/inbox/tasks/{task_id}")
    await page.get_by_text("Answer instead of the agent (ends the task)").click()
    reply = "We cannot refund a stove after a year; a technician will call you."
    await page.get_by_label("Answer to the customer").fill(reply)
    await page.get_by_role("button", name="Send this answer").click()
    await expect(page.locator(".flash")).to_have_text("You answered this step.")
    done = await page_api.wait_done(task_id)
    assert (done["status"], done["answer"]) == ("answered", reply)
    await expect(page.locator("#status")).to_have_text("answered")
    await expect(page.locator(".card").first).to_contain_text(reply)
    await screenshot(page, "inbox-answered.png")


async def test_a_reviewer_rejects_with_a_comment_and_the_discount_is_undone(
    page_api: Api, alice: Watched, page_settings: HandrailSettings
) -> None:
    goal = "Please give a discount of 5.00 on order 1002 and a refund of 80.00 on order 1003."
    task_id = (await page_api.start(goal)).json()["task_id"]
    await page_api.wait_pending(task_id)
    assert store_rows(page_settings, "discounts", task_id) == [(500, "requested by the customer")]
    page = alice.page
    await page.goto(f"{page_api.url}/inbox/tasks/{task_id}")
    await page.get_by_text("Reject with a comment (rolls the task back)").click()
    await page.get_by_label("Why").fill("Order 1003 was never delivered to this customer.")
    await page.get_by_role("button", name="Reject", exact=True).click()
    await expect(page.locator(".flash")).to_have_text("You rejected this step.")
    done = await page_api.wait_done(task_id)
    assert done["status"] == "rejected"
    [undone] = done["result"]["compensations"]
    assert (undone["compensation"], undone["tool"]) == ("revoke_discount", "apply_discount")
    assert store_rows(page_settings, "discounts", task_id) == []
    assert store_rows(page_settings, "refunds", task_id) == []
    await expect(page.locator("#status")).to_have_text("rejected")
    await expect(page.locator(".timeline")).to_contain_text("never delivered")
    await expect(page.locator("#task")).to_contain_text("revoke_discount")
    await screenshot(page, "inbox-rejected.png")


async def test_a_hostile_proposal_stays_text_through_review(page_api: Api, alice: Watched) -> None:
    """A model proposes a refund whose reason, rationale and final answer (and the task's id
    and goal) carry markup and attribute breakouts: every page shows them as text, the edit
    form and its diff work on them, and nothing runs."""
    task_id = await start_hostile(
        page_api, task_id=f"h-{uuid.uuid4().hex[:8]}-{HOSTILE_TASK_ID_TAIL}"
    )
    pending = await page_api.wait_pending(task_id)
    page = alice.page
    await page.goto(f"{page_api.url}/inbox")
    card = page.locator("article").filter(has_text=HOSTILE_MARK)
    await expect(card).to_contain_text("<img src=x onerror=alert(6)>")  # the goal, as text
    await expect(card.locator("pre")).to_contain_text("</script><script id=injected-script>")
    await assert_inert(page)
    await screenshot(page, "inbox-hostile-list.png")

    await page.goto(f"{page_api.url}/links/{link_for(task_id, pending)}")
    await expect(page.locator("pre")).to_contain_text("</textarea><b id=injected-b>")
    await assert_inert(page)

    await page.goto(f"{page_api.url}/inbox")
    await card.get_by_role("link", name="Edit, answer, trace →").click()
    edit = page.locator("form.edit")
    await expect(edit.get_by_label("reason")).to_have_value(HOSTILE)
    await expect(page.locator("h2 code").first).to_have_text(task_id)
    await edit.get_by_label("amount").fill("70.00")
    # The diff read the proposal from its JSON block: only the amount differs.
    await expect(edit.locator(".diff")).to_have_text('amount: "80.00" → "70.00"')
    await assert_inert(page)
    await screenshot(page, "inbox-hostile-edit.png")
    await edit.get_by_role("button", name="Approve with these arguments").click()
    await expect(page.locator(".flash")).to_have_text("You edited and approved this step.")

    # The model's hostile final answer, unsure of itself, comes to review: the page shows it by
    # itself (polling), in the answer's edit field, as text.
    answer = page.locator("form.edit").get_by_label("Answer")
    await expect(answer).to_have_value(HOSTILE, timeout=15_000)
    await assert_inert(page)
    await page.locator("article").get_by_role("button", name="Approve").click()
    await expect(page.locator(".flash")).to_have_text("You approved this step.")
    done = await page_api.wait_done(task_id)
    assert (done["status"], done["answer"]) == ("answered", HOSTILE)
    await expect(page.locator("#status")).to_have_text("answered")
    await expect(page.locator("#task p").first).to_contain_text(HOSTILE)
    await assert_inert(page)
    await screenshot(page, "inbox-hostile-answered.png")

    # The second wall: markup that did get into the page would not run. The policy refuses
    # the inline handler and the browser reports it (the one violation this test expects).
    await page.evaluate(
        """document.querySelector("main").insertAdjacentHTML(
             "beforeend", '<img src="/inbox/static/favicon.svg" onload="window.ran = 1">')"""
    )
    for _ in range(50):
        if alice.troubles:
            break
        await asyncio.sleep(0.05)
    assert await page.evaluate("window.ran") is None
    assert all(
        "CSP violation: script-src-attr" in t or "Content Security Policy" in t
        for t in alice.troubles
    ), alice.troubles
    alice.troubles.clear()


async def test_the_task_pages_own_buttons_then_a_review_link_then_logging_out(
    page_api: Api, alice: Watched
) -> None:
    approved = (await page_api.start()).json()["task_id"]
    rejected = (await page_api.start()).json()["task_id"]
    linked = (await page_api.start()).json()["task_id"]
    for task_id in (approved, rejected):
        await page_api.wait_pending(task_id)
    page = alice.page
    await page.goto(f"{page_api.url}/inbox/tasks/{approved}")
    await page.locator("article").get_by_role("button", name="Approve").click()
    await expect(page.locator(".flash")).to_have_text("You approved this step.")
    await page.goto(f"{page_api.url}/inbox/tasks/{rejected}")
    await page.locator("article").get_by_role("button", name="Reject (rolls back)").click()
    await expect(page.locator(".flash")).to_have_text("You rejected this step.")
    assert (await page_api.wait_done(approved))["status"] == "answered"
    assert (await page_api.wait_done(rejected))["status"] == "rejected"

    # A signed link from a notice: its page answers with `Referrer-Policy: no-referrer`, so
    # the browser posts its form with `Origin: null`; the click must still decide, once.
    token = link_for(linked, await page_api.wait_pending(linked))
    await page.goto(f"{page_api.url}/links/{token}")
    await expect(page.locator(".card")).to_contain_text("This link approves step")
    await page.get_by_role("button", name="Confirm: approve").click()
    await expect(page.locator(".flash")).to_contain_text("Recorded: approve of step")
    await screenshot(page, "link-confirmed.png")
    assert (await page_api.wait_done(linked))["status"] == "answered"

    await page.goto(f"{page_api.url}/inbox")
    await page.get_by_role("button", name="Log out").click()
    await expect(page).to_have_url(f"{page_api.url}/inbox/login")
    await page.goto(f"{page_api.url}/inbox")
    await expect(page).to_have_url(f"{page_api.url}/inbox/login")  # the cookie is gone


async def test_an_amount_typed_before_the_script_loads_shows_in_the_diff(
    page_api: Api, alice: Watched
) -> None:
    """On a slow line the reviewer may type before the page's script has run (or the browser
    restores a value going back): the diff shows that change once the script runs, not only at
    the next key. The script is held back until the amount is typed."""
    task_id = (await page_api.start()).json()["task_id"]
    await page_api.wait_pending(task_id)
    page = alice.page
    await page.goto(f"{page_api.url}/inbox")
    if page.url.endswith("/inbox/login"):  # an earlier test of the module logged alice out
        await log_in(page, page_api, "alice")
    typed = asyncio.Event()

    async def after_typing(route: Route) -> None:
        await typed.wait()
        await route.continue_()

    await page.route("**/inbox/static/inbox.js", after_typing)
    try:
        await page.goto(f"{page_api.url}/inbox/tasks/{task_id}", wait_until="commit")
        edit = page.locator("form.edit")
        await edit.get_by_label("amount").fill("55.00")
        typed.set()
        await expect(edit.locator(".diff")).to_have_text('amount: "80.00" → "55.00"')
        await edit.get_by_role("button", name="Approve with these arguments").click()
        await expect(page.locator(".flash")).to_have_text("You edited and approved this step.")
    finally:
        await page.unroute("**/inbox/static/inbox.js")
    done = await page_api.wait_done(task_id)
    [reviewed] = [s for s in done["result"]["steps"] if s.get("review")]
    assert reviewed["review"]["arguments"]["amount"] == "55.00"
