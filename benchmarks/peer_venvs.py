"""Peers that cannot share the project's environment, each run from a venv of its own.

Strands' Temporal integration pins ``mcp < 2`` (the core's MCP extra is ``mcp >= 2.3``) and
Google ADK pins ``opentelemetry-sdk <= 1.44`` (the core needs ``>= 1.45``), so neither can be
in the ``bench`` extra. The benchmark makes each its venv on demand, once, under
``data/bench-venvs/`` (a folder per peer and requirement set, reused while the pins are the
same), by ``pip install`` from the package index: an install step like ``pip install -e
'.[bench]'``, not a download of the library at run time. Nothing else leaves 127.0.0.1.

The peer's worker (its workflow and its model activity) runs as a subprocess from that venv
(``python -m benchmarks.peer_apps.<peer>_worker``), importing only the peer's packages,
``temporalio`` and the standard library: the project itself is not installed there. The tool
activity, Handrail's ``lookup_price`` work, runs here in the benchmark's process on a task
queue of its own (``TOOL_ACTIVITY``), so every peer does exactly the same tool work. The
subprocess prints ``ready`` once polling; it is stopped (SIGTERM, then SIGKILL) when the peer's
measurement ends, and stops itself when its stdin closes, which also covers the benchmark being
killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from benchmarks.harness import BenchEnv
from benchmarks.peer_apps.common import lookup_price_text

ROOT = Path(__file__).resolve().parent.parent
VENVS = ROOT / "data" / "bench-venvs"
TOOL_ACTIVITY = "lookup_price"  # Strands names the tool after its activity
INSTALL_BOUND = 600.0  # seconds for one venv's first install
READY_BOUND = 90.0  # seconds for the worker subprocess to import and start polling
STOP_BOUND = 10.0


class PeerUnavailableError(Exception):
    """The peer's venv or worker could not be made; the message says why (for the row)."""


@dataclass(frozen=True)
class VenvPeer:
    """A peer with a venv of its own: its pinned requirements and its worker's module."""

    name: str
    requirements: tuple[str, ...]
    worker_module: str
    workflow: str
    environment: tuple[tuple[str, str], ...] = ()  # set for the worker before it starts

    @property
    def venv(self) -> Path:
        pins = hashlib.sha256("\n".join(self.requirements).encode()).hexdigest()[:10]
        return VENVS / f"{self.name}-{pins}"


def _ensure_venv(peer: VenvPeer) -> Path:
    """The peer's venv, made and installed once (a ``.ready`` file marks a finished install)."""
    python = peer.venv / "bin" / "python"
    ready = peer.venv / ".ready"
    if ready.exists():
        return python
    peer.venv.parent.mkdir(parents=True, exist_ok=True)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(peer.venv)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *peer.requirements],
    ]  # fmt: skip
    for command in steps:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=INSTALL_BOUND, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise PeerUnavailableError(f"venv install took over {INSTALL_BOUND:.0f} s") from error
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise PeerUnavailableError(f"venv install failed: {last[:160]}")
    ready.write_text("\n".join(peer.requirements))
    return python


class _Tool:
    """Handrail's ``lookup_price`` work for a venv peer's tool calls (the store file is the
    peer's own, passed by the worker that registers this)."""

    def __init__(self, store_db: str) -> None:
        self._store_db = store_db

    @activity.defn(name=TOOL_ACTIVITY)
    async def lookup_price(self, product: str) -> str:
        return await lookup_price_text(self._store_db, product)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_BOUND)
    except TimeoutError:
        process.kill()
        await process.wait()


@asynccontextmanager
async def running_peer(
    bench: BenchEnv, peer: VenvPeer, store_db: str
) -> AsyncIterator[tuple[Client, str]]:
    """The peer's worker polling a fresh task queue: (a client to start its workflow, queue).

    The client is the benchmark's own: the workflow's input and result are plain JSON."""
    python = await asyncio.to_thread(_ensure_venv, peer)
    task_queue = f"bench-peer-{peer.name}-{uuid.uuid4().hex[:6]}"
    tool_queue = f"{task_queue}-tool"
    env = {**os.environ, **dict(peer.environment), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    log = peer.venv / "worker.log"  # the subprocess's stderr, read back if it fails to start
    with log.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            str(python),
            "-m", peer.worker_module,
            "--address", bench.address,
            "--namespace", bench.client.namespace,
            "--task-queue", task_queue,
            "--tool-queue", tool_queue,
            "--tool-activity", TOOL_ACTIVITY,
            "--model-url", bench.model.base_url,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )  # fmt: skip
    tool = _Tool(store_db)
    try:
        async with Worker(bench.client, task_queue=tool_queue, activities=[tool.lookup_price]):
            await _wait_ready(process, log)
            yield bench.client, task_queue
    finally:
        await _stop(process)


async def _wait_ready(process: asyncio.subprocess.Process, log: Path) -> None:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), READY_BOUND)
    except TimeoutError as error:
        raise PeerUnavailableError(f"worker not ready after {READY_BOUND:.0f} s") from error
    if line.strip() != b"ready":
        await _stop(process)
        text = await asyncio.to_thread(log.read_text, errors="replace")
        errors = text.strip().splitlines() or ["no output"]
        raise PeerUnavailableError(f"worker did not start: {errors[-1][:160]} (see {log})")
