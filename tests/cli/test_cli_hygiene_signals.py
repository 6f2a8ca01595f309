"""SIGTERM and SIGHUP (systemd, ``docker stop``, a closed terminal) stop what a command started.

Each test runs the real entry point as a subprocess on free ports, waits until it serves, signals
it, and checks that the process exits and that no ``temporal`` child outlives it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the dev extra
import pytest

from handrail.runtime.devserver import is_listening
from tests.cli.test_starter_cli import ROOT, _clean_env, _free_port

_START_TIMEOUT = 60.0
_EXIT_TIMEOUT = 20.0


def _temporal_children(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if child.name().startswith("temporal"):
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def _alive(process: psutil.Process) -> bool:
    try:
        alive: bool = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        return alive
    except psutil.NoSuchProcess:
        return False


async def _signal_once_serving(
    script: str, args: list[str], tmp_path: Path, signum: signal.Signals, ready_text: str
) -> tuple[int | None, list[psutil.Process], str]:
    """Run ``script``, wait for a ready Temporal child (and ``ready_text`` in its output), send
    ``signum``; return the exit code (None if it did not exit), the Temporal children still alive
    a few seconds later (before this function kills them), and the output."""
    port, ui_port = _free_port(), _free_port()
    env = _clean_env(
        HANDRAIL_TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        HANDRAIL_UI_PORT=str(ui_port),
        HANDRAIL_DATA_DIR=str(tmp_path / "data"),
        HANDRAIL_TASK_QUEUE=f"test-{uuid.uuid4().hex[:10]}",
        PYTHONUNBUFFERED="1",
    )
    log_path = tmp_path / "output.log"
    children: list[psutil.Process] = []
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / script),
            *args,
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline and process.returncode is None:
            children = children or _temporal_children(process.pid)
            output = log_path.read_text(errors="replace")
            if children and is_listening("127.0.0.1", port) and ready_text in output:
                break
            await asyncio.sleep(0.1)
        assert children, f"no temporal child started:\n{log_path.read_text(errors='replace')}"
        assert process.returncode is None, log_path.read_text(errors="replace")
        # Not ready by the deadline is a failure, not a signal sent at a random moment.
        assert ready_text in log_path.read_text(errors="replace"), f"never printed {ready_text!r}"
        process.send_signal(signum)
        code: int | None
        try:
            code = await asyncio.wait_for(process.wait(), timeout=_EXIT_TIMEOUT)
        except TimeoutError:
            code = None
        # The children have a moment to be reaped by whoever owns them now.
        for _ in range(40):
            if not any(_alive(child) for child in children):
                break
            await asyncio.sleep(0.1)
        survivors = [child for child in children if _alive(child)]
        return code, survivors, log_path.read_text(errors="replace")
    finally:
        # Whatever the outcome, leave nothing running.
        for child in children:
            if _alive(child):
                child.kill()
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
async def test_server_command_stops_its_temporal_child(
    tmp_path: Path, signum: signal.Signals
) -> None:
    code, survivors, output = await _signal_once_serving(
        "starter.py", ["server"], tmp_path, signum, ready_text=""
    )
    assert code is not None, f"starter.py server ignored {signum.name}:\n{output}"
    assert not survivors, f"temporal left running:\n{output}"
    assert "Traceback" not in output


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
async def test_worker_stops_its_embedded_server(tmp_path: Path, signum: signal.Signals) -> None:
    code, survivors, output = await _signal_once_serving(
        "worker.py", [], tmp_path, signum, ready_text="worker on task queue"
    )
    assert code is not None, f"worker.py ignored {signum.name}:\n{output}"
    assert not survivors, f"temporal left running:\n{output}"
    assert "Traceback" not in output


async def test_demo_serving_the_ui_stops_its_temporal_child_on_sigterm(tmp_path: Path) -> None:
    code, survivors, output = await _signal_once_serving(
        "starter.py", ["demo", "--serve"], tmp_path, signal.SIGTERM, ready_text="until Ctrl-C"
    )
    assert code is not None, f"starter.py demo ignored SIGTERM:\n{output}"
    assert not survivors, f"temporal left running:\n{output}"
    assert "Traceback" not in output
