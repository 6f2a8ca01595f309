"""The gateway while Handrail's state database (HANDRAIL_STATE_URL) is away, against a real
PostgreSQL: a link's single use lives there, so a link answers 503 naming the state database
(never a 500) and decides nothing; once the database is back the same link still decides. The
lists, whose tool facts also come from there, keep working without them."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import make_url
from temporalio.client import Client

from examples.store.database import create_store
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.http import create_app, running_server
from handrail.http.auth import COOKIE_NAME
from handrail.settings import HandrailSettings
from tests.http.test_http_api import TOKENS, Api, gateway_settings
from tests.review_helpers import signed_link

SECRET = "link-secret-for-state-db-tests-" + "0123456789abcdef"

pytestmark = pytest.mark.usefixtures("worker")


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def _gateway(client: Client, settings: HandrailSettings) -> AsyncIterator[Api]:
    """A gateway with no tool specs given, so it reads the declared tools from the state
    database too."""
    handrail = HandrailClient(client, settings)
    app = create_app(handrail, task_queue=settings.task_queue)
    async with (
        running_server(app) as url,
        httpx2.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield Api(url, http, handrail)


@pytest_asyncio.fixture
async def replicas(
    client: Client, settings: HandrailSettings, postgres_url: str
) -> AsyncIterator[tuple[Api, Api]]:
    """Two gateways over one Temporal: the first with its real PostgreSQL state database, the
    second with the same settings but the database unreachable (its port closed)."""
    create_store(store_db_path(settings))
    reachable = gateway_settings(settings).model_copy(
        update={"link_secret": SecretStr(SECRET), "state_url": SecretStr(postgres_url)}
    )
    dead = make_url(postgres_url).set(port=_closed_port()).render_as_string(hide_password=False)
    away = reachable.model_copy(update={"state_url": SecretStr(dead)})
    async with _gateway(client, reachable) as up, _gateway(client, away) as down:
        yield up, down


async def test_a_link_answers_503_while_the_state_database_is_away(
    replicas: tuple[Api, Api],
) -> None:
    api, away = replicas
    task_id = (await api.start()).json()["task_id"]
    pending = await api.wait_pending(task_id)
    token = signed_link(SECRET, task_id, pending)

    refused = await away.http.post(f"/links/{token}", headers={"Origin": away.url})
    assert refused.status_code == 503, refused.text
    assert "state database (HANDRAIL_STATE_URL) is unreachable" in refused.text
    assert "retry later" in refused.text
    # What a reviewer lists does not need it: the tools' facts are a nicety there.
    listed = await away.http.get("/reviews", headers={"Authorization": f"Bearer {TOKENS['bob']}"})
    assert listed.status_code == 200, listed.text
    assert task_id in {row["task_id"] for row in listed.json()}
    inbox = await away.http.get(
        "/inbox?fragment=1", headers={"Cookie": f"{COOKIE_NAME}={TOKENS['bob']}"}
    )
    assert inbox.status_code == 200
    assert task_id in inbox.text
    assert (await api.wait_pending(task_id))["step"] == pending["step"]  # nothing decided

    # Where the database answers, the link was never spent.
    decided = await api.http.post(f"/links/{token}", headers={"Origin": api.url})
    assert decided.status_code == 200, decided.text
    assert "Recorded: approve of step" in decided.text
    assert (await api.wait_done(task_id))["status"] == "answered"
