"""The inbox's forms as FastAPI reads them (form models): the limits and refusals the
hand-written parser had stay (413 past 256 KiB, now before the body is read at all; 415 for
anything but the urlencoded form), and a field sent twice is read as its last value, never a
500."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator

import httpx2
import pytest_asyncio

from handrail.http.auth import COOKIE_NAME
from handrail.http.inbox import MAX_FORM_BYTES
from tests.http.test_http_api import TOKENS, Api
from tests.inbox_kit import page_api, page_settings, start_hostile

__all__ = ["page_api", "page_settings"]  # module-scoped fixtures used here


@pytest_asyncio.fixture(loop_scope="session")
async def alice(page_api: Api) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(
        base_url=page_api.url,
        timeout=30,
        cookies={COOKIE_NAME: TOKENS["alice"]},
        headers={"Origin": page_api.url},
    ) as http:
        yield http


def error_type(response: httpx2.Response) -> str:
    return str(response.json()["error"]["type"])


async def test_a_form_past_the_limit_is_refused_before_it_is_read(
    alice: httpx2.AsyncClient,
) -> None:
    big = {"token": "x" * (MAX_FORM_BYTES + 1)}
    for path in ("/inbox/login", "/inbox/tasks/any/decide"):
        response = await alice.post(path, data=big)
        # Starlette's limiter answers in plain text when the declared length is too long.
        assert response.status_code == 413, (path, response.text[:200])

    async def chunked() -> AsyncIterator[bytes]:  # no declared length: refused as it arrives
        for _ in range(MAX_FORM_BYTES // 1024 + 1):
            yield b"token=" + b"x" * 1024 + b"&"

    response = await alice.post(
        "/inbox/login",
        content=chunked(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert error_type(response) == "TooLarge"


async def test_only_the_urlencoded_form_is_read(alice: httpx2.AsyncClient) -> None:
    multipart = await alice.post("/inbox/login", files={"token": ("t.txt", b"x")})
    assert multipart.status_code == 415
    assert error_type(multipart) == "UnsupportedMediaType"
    as_json = await alice.post(
        "/inbox/login", content=b'{"token": "x"}', headers={"Content-Type": "application/json"}
    )
    assert as_json.status_code == 415


async def test_a_field_sent_twice_counts_once(page_api: Api, alice: httpx2.AsyncClient) -> None:
    task_id = await start_hostile(page_api)
    pending = await page_api.wait_pending(task_id)
    fields = [
        ("step", str(pending["step"])),
        ("verdict", "edit"),
        ("verdict", "edit"),
        *((f"arg.{name}", str(value)) for name, value in pending["arguments"].items()),
        ("arg.amount", "lots"),  # after the real amount: this one is read, and refused
    ]
    response = await alice.post(
        f"/inbox/tasks/{task_id}/decide",
        content=urllib.parse.urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422, response.text[:300]
    assert (await page_api.wait_pending(task_id))["step"] == pending["step"]
