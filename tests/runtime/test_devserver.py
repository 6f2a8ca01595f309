"""The embedded dev server, against real ``temporal`` processes on free loopback ports."""

from __future__ import annotations

import asyncio
import os
import socket
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest, ListNamespacesRequest
from temporalio.client import Client, WorkflowExecutionStatus

from handrail.errors import ConfigurationError
from handrail.runtime.devserver import (
    SEARCH_ATTRIBUTES,
    DevServer,
    embedded_server,
    find_temporal_binary,
    find_test_server_binary,
    is_listening,
    is_loopback,
    split_address,
)

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def assert_process_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def assert_port_free(port: int) -> None:
    assert not is_listening(HOST, port)
    # Binding proves no listener is left (SO_REUSEADDR only tolerates TIME_WAIT leftovers).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))


def http_get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:
        status: int = response.status
        return status


async def wait_for_http(url: str, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.to_thread(http_get_status, url)
        except OSError:
            if time.monotonic() >= deadline:
                raise
        await asyncio.sleep(0.1)


# --- pure helpers -----------------------------------------------------------------------------


def test_split_address() -> None:
    assert split_address("127.0.0.1:7233") == ("127.0.0.1", 7233)
    assert split_address("localhost:7000") == ("localhost", 7000)
    assert split_address("[::1]:7233") == ("::1", 7233)


@pytest.mark.parametrize(
    "address", ["", "127.0.0.1", "127.0.0.1:", ":7233", "host:port", "host:0", "h:70000", "::1:7"]
)
def test_split_address_rejects_and_names_the_address(address: str) -> None:
    with pytest.raises(ValueError, match="invalid Temporal address") as caught:
        split_address(address)
    assert repr(address) in str(caught.value)


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1")
    assert is_loopback("127.8.9.10")
    assert is_loopback("localhost")
    assert is_loopback("::1")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("10.0.0.5")
    assert not is_loopback("temporal.example.com")


def test_find_binaries_are_executable_files() -> None:
    for binary in (find_temporal_binary(), find_test_server_binary()):
        assert binary.is_file()
        assert os.access(binary, os.X_OK)


def test_is_listening() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert is_listening(HOST, port)
    assert not is_listening(HOST, port)


# --- real servers -----------------------------------------------------------------------------


@pytest.fixture
async def cleanup() -> AsyncIterator[list[DevServer]]:
    """Servers stopped after the test even when it fails, so no process outlives the run."""
    servers: list[DevServer] = []
    yield servers
    for server in servers:
        await server.stop()


async def test_start_stop_restart_keeps_runs(tmp_path: Path, cleanup: list[DevServer]) -> None:
    port = free_port()
    db_file = tmp_path / "data" / "temporal.db"  # the parent does not exist yet
    server = DevServer(db_file=db_file, port=port, ui_port=None)
    cleanup.append(server)
    assert server.address == f"{HOST}:{port}"
    assert server.pid is None
    assert not server.running

    await server.start()
    pid = server.pid
    assert pid is not None
    assert server.running
    assert db_file.is_file()
    assert db_file.with_suffix(".log").is_file()

    client = await Client.connect(server.address)
    info = await client.workflow_service.get_system_info(GetSystemInfoRequest())
    assert info.server_version
    namespaces = await client.workflow_service.list_namespaces(ListNamespacesRequest())
    assert "default" in {ns.namespace_info.name for ns in namespaces.namespaces}
    attributes = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    assert set(SEARCH_ATTRIBUTES) <= set(attributes.custom_attributes)
    assert (
        attributes.custom_attributes["AwaitingReview"] == IndexedValueType.INDEXED_VALUE_TYPE_BOOL
    )
    # A run with no worker stays RUNNING: it must survive the restart below.
    workflow_id = f"devserver-{uuid.uuid4()}"
    await client.start_workflow("NoSuchWorkflow", id=workflow_id, task_queue=workflow_id)

    await server.stop()
    assert_process_gone(pid)
    assert_port_free(port)
    assert server.pid is None
    assert not server.running
    await server.stop()  # idempotent

    await server.start()
    second_pid = server.pid
    assert second_pid not in (None, pid)
    client = await Client.connect(server.address)
    description = await client.get_workflow_handle(workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    await server.stop()
    assert second_pid is not None
    assert_process_gone(second_pid)
    assert_port_free(port)


async def test_server_runs_in_its_own_session(tmp_path: Path) -> None:
    # Ctrl-C or a closed terminal signals the terminal's process group: the server must not be
    # in ours, so that only we get the signal and stop it after the worker (the SDK's
    # WorkflowEnvironment.start_local spawns it in our group, hence DevServer).
    async with DevServer(
        db_file=tmp_path / "temporal.db", port=free_port(), ui_port=None
    ) as server:
        assert server.pid is not None
        assert os.getsid(server.pid) == server.pid
        assert os.getpgid(server.pid) != os.getpgid(0)


async def test_ui_answers_and_embedded_server_uses_running_server(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    async with DevServer(db_file=tmp_path / "temporal.db", port=port, ui_port=ui_port) as server:
        assert await wait_for_http(f"http://{HOST}:{ui_port}/") == 200

        # Something already listens there: use it, start nothing, stop nothing.
        async with embedded_server(
            server.address, db_file=tmp_path / "other.db", ui_port=None
        ) as embedded:
            assert embedded is None
        assert server.running
        assert not (tmp_path / "other.db").exists()
        client = await Client.connect(server.address)
        await client.workflow_service.get_system_info(GetSystemInfoRequest())
        pid = server.pid
    assert pid is not None
    assert_process_gone(pid)
    assert_port_free(port)
    assert_port_free(ui_port)


async def test_embedded_server_starts_and_stops_on_exception(tmp_path: Path) -> None:
    port = free_port()
    address = f"{HOST}:{port}"
    pids: list[int | None] = []

    async def use_then_fail() -> None:
        async with embedded_server(
            address, db_file=tmp_path / "temporal.db", ui_port=None
        ) as server:
            assert server is not None
            assert server.running
            pids.append(server.pid)
            client = await Client.connect(address)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await use_then_fail()
    [pid] = pids
    assert pid is not None
    assert_process_gone(pid)
    assert_port_free(port)


async def test_embedded_server_disabled_or_remote_starts_nothing(tmp_path: Path) -> None:
    port = free_port()
    async with embedded_server(
        f"{HOST}:{port}", db_file=tmp_path / "a.db", enabled=False
    ) as server:
        assert server is None
        assert not is_listening(HOST, port)
    async with embedded_server("temporal.example.com:7233", db_file=tmp_path / "b.db") as server:
        assert server is None
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_start_refuses_an_address_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen()
        port = sock.getsockname()[1]
        server = DevServer(db_file=tmp_path / "temporal.db", port=port, ui_port=None)
        with pytest.raises(ConfigurationError, match="already in use"):
            await server.start()
        assert server.pid is None


async def test_early_exit_raises_with_the_log(tmp_path: Path) -> None:
    # The UI port is taken, so the server exits at once with a bind error in its log.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen()
        ui_port = sock.getsockname()[1]
        log_file = tmp_path / "logs" / "server.log"
        server = DevServer(
            db_file=tmp_path / "temporal.db", port=free_port(), ui_port=ui_port, log_file=log_file
        )
        with pytest.raises(ConfigurationError, match="exited during start-up") as caught:
            await server.start(timeout=10)
    assert str(ui_port) in str(caught.value)
    assert "address already in use" in str(caught.value)
    assert str(log_file) in str(caught.value)
    assert server.pid is None
    assert not server.running


async def test_missing_binary_is_a_configuration_error(tmp_path: Path) -> None:
    server = DevServer(
        db_file=tmp_path / "temporal.db", port=free_port(), binary=tmp_path / "no-temporal"
    )
    with pytest.raises(ConfigurationError, match="no-temporal"):
        await server.start(timeout=2)
    assert server.pid is None
