"""The gateway holds one connection pool to Handrail's state database for its life: a second
click on a review link opens no new connection (it reuses the first click's), and shutting the
gateway down closes every connection it opened. Counted at the driver: each SQLite connection
opened and closed in this process, to the gateway's own state file."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.pool import Pool
from temporalio.client import Client

from handrail.review.links import sign_link
from handrail.settings import HandrailSettings
from tests.http.test_http_api import serve_gateway

SECRET = "link-secret-for-tests-" + "fedcba9876543210"

pytestmark = pytest.mark.usefixtures("worker")


class Connections:
    """The DBAPI connections to one SQLite file, as pools open and close them."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.opened: list[sqlite3.Connection] = []
        self.closed: list[sqlite3.Connection] = []

    def on_connect(self, connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            files = [row[2] for row in connection.execute("PRAGMA database_list")]
            if self.path in files:
                self.opened.append(connection)

    def on_close(self, connection: Any, _record: Any) -> None:
        if any(connection is mine for mine in self.opened):
            self.closed.append(connection)

    @property
    def open_now(self) -> int:
        return sum(1 for c in self.opened if not any(c is gone for gone in self.closed))


@contextmanager
def watching(path: Path) -> Iterator[Connections]:
    connections = Connections(path)
    event.listen(Pool, "connect", connections.on_connect)
    event.listen(Pool, "close", connections.on_close)
    try:
        yield connections
    finally:
        event.remove(Pool, "connect", connections.on_connect)
        event.remove(Pool, "close", connections.on_close)


async def test_two_clicks_share_one_pool_which_shutdown_closes(
    client: Client, settings: HandrailSettings, tmp_path: Path
) -> None:
    # The gateway's own state file, so that the worker's connections (same process) are not
    # counted: review links' single use is the only state the gateway writes.
    state_file = tmp_path / "gateway" / "state.db"
    gateway_settings = settings.model_copy(
        update={
            "link_secret": SecretStr(SECRET),
            "state_url": SecretStr(f"sqlite+aiosqlite:///{state_file}"),
        }
    )
    with watching(state_file) as connections:
        async with serve_gateway(client, gateway_settings) as api:
            task_id = (await api.start()).json()["task_id"]
            pending = await api.wait_pending(task_id)
            token = sign_link(
                SECRET,
                task_id=task_id,
                step=int(pending["step"]),
                verdict="approve",
                fingerprint=str(pending["fingerprint"]),
                reviewer="alice",
                expires_at=datetime.now(UTC) + timedelta(minutes=10),
            )
            origin = {"Origin": api.url}
            first = await api.http.post(f"/links/{token}", headers=origin)
            assert first.status_code == 200, first.text
            after_first = len(connections.opened)
            assert after_first >= 1

            second = await api.http.post(f"/links/{token}", headers=origin)
            assert second.status_code == 409  # it read the table: the link is used
            assert len(connections.opened) == after_first, "the second click opened a pool"
            assert connections.open_now >= 1  # kept for the next one

        assert connections.open_now == 0, "the gateway's shutdown left connections open"
