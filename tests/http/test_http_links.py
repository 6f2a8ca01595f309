"""Signed review links through the gateway: GET shows what the link decides and changes
nothing; a POST from the page decides once; a reused, expired, forged or cross-site use is
refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from pydantic import SecretStr
from temporalio.client import Client

from handrail.review.links import sign_link
from handrail.settings import HandrailSettings
from tests.http.test_http_api import Api, serve_gateway

SECRET = "link-secret-for-tests-" + "0123456789abcdef"

pytestmark = pytest.mark.usefixtures("worker")


@pytest_asyncio.fixture
async def api(client: Client, settings: HandrailSettings) -> AsyncIterator[Api]:
    with_links = settings.model_copy(update={"link_secret": SecretStr(SECRET)})
    async with serve_gateway(client, with_links) as served:
        yield served


def link(task_id: str, pending: dict[str, object], *, expires_in: float = 600) -> str:
    return sign_link(
        SECRET,
        task_id=task_id,
        step=int(str(pending["step"])),
        verdict="approve",
        fingerprint=str(pending["fingerprint"]),
        reviewer="alice",
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
    )


async def test_a_link_shows_then_decides_once(api: Api) -> None:
    task_id = (await api.start()).json()["task_id"]
    pending = await api.wait_pending(task_id)
    token = link(task_id, pending)

    shown = await api.http.get(f"/links/{token}")
    assert shown.status_code == 200
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["referrer-policy"] == "no-referrer"
    for shown_text in ("approves", "alice", "80.00"):
        assert shown_text in shown.text
    assert (await api.wait_pending(task_id))["step"] == pending["step"]  # GET decided nothing

    cross_site = await api.http.post(f"/links/{token}", headers={"Origin": "https://evil.test"})
    assert cross_site.status_code == 403

    origin = {"Origin": api.url}
    used = await api.http.post(f"/links/{token}", headers=origin)
    assert used.status_code == 200, used.text
    assert used.headers["cache-control"] == "no-store"
    assert "Recorded: approve of step" in used.text
    again = await api.http.post(f"/links/{token}", headers=origin)
    assert again.status_code == 409
    assert "used already" in again.text
    done = await api.wait_done(task_id)
    [reviewed] = [s for s in done["result"]["steps"] if s.get("review")]
    assert reviewed["review"]["reviewer"] == "alice"


async def test_expired_links_are_gone_and_forged_ones_forbidden(api: Api) -> None:
    task_id = (await api.start()).json()["task_id"]
    pending = await api.wait_pending(task_id)
    expired = link(task_id, pending, expires_in=-1)
    assert (await api.http.get(f"/links/{expired}")).status_code == 410
    origin = {"Origin": api.url}
    genuine = link(task_id, pending)
    payload, signature = genuine.split(".")
    # Another genuine link's payload (a reject for bob) under this link's signature.
    other = sign_link(
        SECRET,
        task_id=task_id,
        step=int(str(pending["step"])),
        verdict="reject",
        fingerprint=str(pending["fingerprint"]),
        reviewer="bob",
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )
    forgeries = {
        "bad signature": genuine[:-4] + "AAAA",
        "swapped payload": f"{other.split('.')[0]}.{signature}",
        "unknown key": sign_link(
            "a-key-this-gateway-never-had-" + "f" * 16,
            task_id=task_id,
            step=int(str(pending["step"])),
            verdict="approve",
            fingerprint=str(pending["fingerprint"]),
            reviewer="alice",
            expires_at=datetime.now(UTC) + timedelta(minutes=10),
        ),
    }
    for kind, forged in forgeries.items():
        for response in (
            await api.http.get(f"/links/{forged}"),
            await api.http.post(f"/links/{forged}", headers=origin),
        ):
            assert response.status_code == 403, (kind, response.status_code)
            assert "signature is not valid" in response.text, kind
    malformed = await api.http.post(f"/links/{payload}", headers=origin)  # no signature
    assert malformed.status_code == 400
    assert (await api.wait_pending(task_id))["step"] == pending["step"]
    # Nothing was spent by the forgeries: the genuine link still decides.
    assert (await api.http.post(f"/links/{genuine}", headers=origin)).status_code == 200


async def test_a_used_link_says_so_after_its_task_ended(api: Api) -> None:
    # The approval lets the task run to its end; a second click arriving after that must still
    # be told the link was used, not that the task ended (with the confirm button under it).
    task_id = (await api.start()).json()["task_id"]
    token = link(task_id, await api.wait_pending(task_id))
    origin = {"Origin": api.url}
    assert (await api.http.post(f"/links/{token}", headers=origin)).status_code == 200
    await api.wait_done(task_id)
    again = await api.http.post(f"/links/{token}", headers=origin)
    assert again.status_code == 409
    assert "used already" in again.text
    assert "Confirm: approve" not in again.text
    # Opened again, the link says so at once, with no button that could only be refused.
    opened = await api.http.get(f"/links/{token}")
    assert opened.status_code == 200
    assert "used already" in opened.text
    assert "Confirm: approve" not in opened.text
