"""The inbox's pages over real HTTP, read with an HTML parser: model text stays text wherever it
lands, every page carries the security headers, the edit form posted as a browser posts it
works, and no malformed form gets a 5xx."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest_asyncio

from examples.store.settings import store_db_path
from handrail.http.auth import COOKIE_NAME
from handrail.settings import HandrailSettings
from tests.http.test_http_api import TOKENS, Api
from tests.inbox_kit import (
    HOSTILE,
    HOSTILE_TASK_ID_TAIL,
    form_body,
    injected,
    link_for,
    page_api,
    page_settings,
    parse,
    start_hostile,
)

__all__ = ["page_api", "page_settings"]  # module-scoped fixtures used here

CSP_DIRECTIVES = {
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
}


@pytest_asyncio.fixture(loop_scope="session")
async def alice(page_api: Api) -> AsyncIterator[httpx2.AsyncClient]:
    """alice's browser, as far as the server can tell: her cookie, the page's own origin."""
    async with httpx2.AsyncClient(
        base_url=page_api.url,
        timeout=30,
        cookies={COOKIE_NAME: TOKENS["alice"]},
        headers={"Origin": page_api.url},
    ) as http:
        yield http


async def test_hostile_text_stays_text_on_every_page(
    page_api: Api, alice: httpx2.AsyncClient
) -> None:
    task_id = await start_hostile(
        page_api, task_id=f"t-{uuid.uuid4().hex[:8]}-{HOSTILE_TASK_ID_TAIL}"
    )
    pending = await page_api.wait_pending(task_id)
    assert pending["arguments"]["reason"] == HOSTILE
    quoted = urllib.parse.quote(task_id, safe="")
    pages = {
        "list": "/inbox",
        "list fragment": "/inbox?fragment=1",
        "task": f"/inbox/tasks/{quoted}",
        "task fragment": f"/inbox/tasks/{quoted}?fragment=1",
        "link": f"/links/{link_for(task_id, pending)}",
    }
    for name, path in pages.items():
        response = await alice.get(path)
        assert response.status_code == 200, (name, response.text[:300])
        page = parse(response.text)
        assert injected(page) == [], name
        for anchor in page.find("a"):  # every link stays on a known scheme and path
            href = anchor.attrs.get("href", "")
            assert href.startswith(("/", "http://", "https://")), (name, href)
            assert "/inbox/tasks/" not in href or href.endswith(f"/inbox/tasks/{quoted}"), href

    task_page = parse((await alice.get(pages["task"])).text)
    [edit] = task_page.find("form", class_="edit")
    [original] = task_page.find("script", type="application/json")
    assert json.loads(original.text) == pending["arguments"]
    assert form_body(edit, task_page)["arg.reason"] == HOSTILE  # the textarea holds it as text
    await reject(alice, task_id, pending)


async def reject(alice: httpx2.AsyncClient, task_id: str, pending: dict[str, Any]) -> None:
    quoted = urllib.parse.quote(task_id, safe="")
    done = await alice.post(
        f"/inbox/tasks/{quoted}/decide",
        data={"step": str(pending["step"]), "verdict": "reject", "fingerprint": ""},
    )
    assert done.status_code == 303, done.text


async def test_every_page_carries_the_security_headers(
    page_api: Api, alice: httpx2.AsyncClient
) -> None:
    task_id = (await page_api.start()).json()["task_id"]
    pending = await page_api.wait_pending(task_id)
    anonymous = page_api.http
    html_pages = [
        await anonymous.get("/inbox/login"),
        await alice.get("/inbox"),
        await alice.get(f"/inbox/tasks/{task_id}"),
        await anonymous.get(f"/links/{link_for(task_id, pending)}"),
        await anonymous.get("/links/not-a-link"),
    ]
    for response in html_pages:
        assert response.headers["content-type"].startswith("text/html"), response.url
        policy = {part.strip() for part in response.headers["content-security-policy"].split(";")}
        assert policy >= CSP_DIRECTIVES, response.url
        assert not any("unsafe" in part for part in policy), policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"  # customers' data: no copies
        # Referrer-Policy same-origin keeps the Origin a form post needs; a link page keeps
        # its own no-referrer (the token is in its URL).
        expected = "no-referrer" if "/links/" in str(response.url) else "same-origin"
        assert response.headers["referrer-policy"] == expected, response.url
        # No inline script or style left for the policy to refuse.
        page = parse(response.text)
        assert not [
            s
            for s in page.find("script")
            if not s.attrs.get("src") and s.attrs.get("type") != "application/json"
        ]
        assert page.find("style") == []
        assert not [e.tag for e in page.elements if "style" in e.attrs]
    for response in (
        await anonymous.get("/inbox/static/inbox.js"),
        await anonymous.get("/inbox/static/inbox.css"),
        await anonymous.get("/reviews"),  # JSON, refused: 401
        await anonymous.get("/inbox/static/nope.js"),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    script = await anonymous.get("/inbox/static/inbox.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    await reject(alice, task_id, pending)


async def test_the_edit_form_posted_as_a_browser_posts_it_runs_the_edit(
    page_api: Api, alice: httpx2.AsyncClient, page_settings: HandrailSettings
) -> None:
    task_id = (await page_api.start()).json()["task_id"]
    await page_api.wait_pending(task_id)
    page = parse((await alice.get(f"/inbox/tasks/{task_id}")).text)
    [edit] = page.find("form", class_="edit")
    body = form_body(edit, page, **{"arg.amount": "60.00", "verdict": "edit"})
    posted = await alice.post(f"/inbox/tasks/{task_id}/decide", data=body)
    assert posted.status_code == 303, posted.text
    assert (await page_api.wait_done(task_id))["status"] == "answered"
    with sqlite3.connect(store_db_path(page_settings)) as store:
        rows = store.execute(
            "SELECT amount_cents FROM refunds WHERE task_id = ?", (task_id,)
        ).fetchall()
    assert rows == [(6000,)]


async def test_no_malformed_form_gets_a_server_error(
    page_api: Api, alice: httpx2.AsyncClient
) -> None:
    task_id = (await page_api.start()).json()["task_id"]
    pending = await page_api.wait_pending(task_id)
    step, args = str(pending["step"]), pending["arguments"]
    # Each form below is refused (none of them decides, checked at the end): an edit that
    # changes nothing, that breaks the tool's schema, that names another step or proposal...
    edit = {"step": step, "verdict": "edit", **{f"arg.{k}": str(v) for k, v in args.items()}}
    # ...whatever it claims was shown: the server never reads that from the form (it was a 500).
    forms: list[dict[str, str]] = [
        {**edit, "shown_arguments": shown} for shown in ("[1]", '"x"', "{", "null", "")
    ]
    forms += [
        {k: v for k, v in edit.items() if k != "arg.amount"},
        {**edit, "arg.amount": "lots"},
        {**edit, "arg.order_id": "x"},
        {**edit, "arg.order_id": "1.5"},
        {**edit, "tool": "no_such_tool"},
        {**edit, "tool": ""},
        {**edit, "step": "abc"},
        {**edit, "step": "-1"},
        {**edit, "step": "99"},
        {**edit, "fingerprint": "f" * 500},
        {**edit, "fingerprint": "not-the-one"},
        {**edit, "arg.amount": "1000.00"},  # above deny_above: the policy refuses it
        {"step": step, "verdict": "approve", "comment": "x" * 3000},
        {"step": step, "verdict": "maybe"},
        {"step": step, "verdict": "answer"},
        {"step": step, "verdict": "answer", "answer": "   "},
        {"verdict": "approve"},
        {},
    ]
    statuses = []
    for form in forms:
        response = await alice.post(f"/inbox/tasks/{task_id}/decide", data=form)
        statuses.append(response.status_code)
        assert 400 <= response.status_code < 500, (form, response.status_code, response.text[:300])
    status_of = dict(zip(map(str, forms), statuses, strict=True))
    assert status_of[str({**edit, "shown_arguments": "{"})] == 422  # the edit changes nothing
    assert status_of[str({**edit, "step": "99"})] == 409  # not the step that waits
    assert status_of[str({**edit, "fingerprint": "not-the-one"})] == 409  # not what was shown
    assert status_of[str({**edit, "arg.amount": "lots"})] == 422  # the tool's schema refuses it
    raw = [
        (b"step=1&verdict=edit&shown_arguments=%7B", "application/x-www-form-urlencoded"),
        (b"\xff\xfe=\xff", "application/x-www-form-urlencoded"),
        (b"%zz=%", "application/x-www-form-urlencoded"),
        (b'{"verdict": "approve"}', "application/json"),
        (b"", "text/plain"),
    ]
    for content, kind in raw:
        response = await alice.post(
            f"/inbox/tasks/{task_id}/decide", content=content, headers={"Content-Type": kind}
        )
        assert 400 <= response.status_code < 500, (content, response.status_code)
    for path in ("/inbox/tasks/nope-" + uuid.uuid4().hex + "/decide", "/inbox/login"):
        response = await alice.post(path, content=b"{", headers={"Content-Type": "text/x"})
        assert 400 <= response.status_code < 500, (path, response.status_code)
    # Nothing was decided by any of them: the same step still waits.
    await asyncio.sleep(0.2)
    assert (await page_api.wait_pending(task_id))["step"] == pending["step"]
    await reject(alice, task_id, pending)


async def test_other_inbox_routes_answer_bad_input_with_a_4xx(
    page_api: Api, alice: httpx2.AsyncClient
) -> None:
    unknown = f"nope-{uuid.uuid4().hex[:8]}"
    gets = [
        f"/inbox/tasks/{unknown}",
        f"/inbox/tasks/{unknown}?fragment=1",
        "/inbox?fragment=maybe",
        "/inbox/tasks/%01",
        "/inbox/static/..%2F..%2Fapp.py",
        "/inbox/static/../inbox.py",
    ]
    for path in gets:
        response = await alice.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
    for form in ({"step": "1", "verdict": "approve"}, {"step": "1", "verdict": "edit"}):
        response = await alice.post(f"/inbox/tasks/{unknown}/decide", data=form)
        assert response.status_code == 404, (form, response.status_code, response.text[:200])
    response = await alice.post("/inbox/login", content=b"\xff", headers={"Content-Type": "x/y"})
    assert response.status_code == 415


async def test_a_form_post_must_come_from_the_inbox_itself(page_api: Api) -> None:
    """Sec-Fetch-Site when the browser sends it (it does even where the page's referrer
    policy makes the Origin `null`, as a review link's does); else Origin or Referer."""
    url = page_api.url
    cases = [
        ({"Sec-Fetch-Site": "same-origin", "Origin": "null"}, 401),  # a link page's post
        ({"Sec-Fetch-Site": "same-origin"}, 401),
        ({"Origin": url}, 401),
        ({"Referer": f"{url}/inbox/login"}, 401),
        ({"Sec-Fetch-Site": "cross-site", "Origin": url}, 403),  # Origin spoofed: not by a page
        ({"Sec-Fetch-Site": "same-site", "Origin": url}, 403),  # a sibling subdomain's page
        ({"Origin": "null"}, 403),
        ({"Origin": "https://evil.test"}, 403),
        ({"Referer": "https://evil.test/inbox/login"}, 403),
        ({}, 403),
    ]
    for headers, status in cases:
        response = await page_api.http.post("/inbox/login", data={"token": "x"}, headers=headers)
        assert response.status_code == status, (headers, response.status_code)
