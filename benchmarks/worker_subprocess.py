"""A worker in its own process, so that a benchmark measures that worker's memory and CPU alone.

:func:`subprocess_worker` starts ``python -m module`` and waits for it to print ``ready``;
:class:`RssSampler` follows its resident set size. With ``BENCH_PROFILE_DIR`` set, py-spy
(``pip install py-spy``) attaches to each worker subprocess for its whole life and writes its
samples, collapsed stacks one per line, to ``<dir>/<label>.txt`` (``python -m
benchmarks.profile_top <file>`` prints the top entries). It samples without stopping the worker
(``--nonblocking``), so the profile costs the worker little time of its own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.2
READY_SECONDS = 60
_STOP_SECONDS = 30


class RssSampler:
    """The resident set size of one process, sampled every ``SAMPLE_SECONDS``: now and peak."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self.last = 0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        """MiB now (and the peak updated); the last sample once the process is gone."""
        with suppress(psutil.NoSuchProcess):
            self.last = self._process.memory_info().rss
            self.peak = max(self.peak, self.last)
        return self.last / 2**20

    async def _loop(self) -> None:
        while self._process.is_running():
            self.now()
            await asyncio.sleep(SAMPLE_SECONDS)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20


def _py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@asynccontextmanager
async def _profiled(pid: int, label: str) -> AsyncIterator[None]:
    """py-spy recording ``pid`` for the block, when ``BENCH_PROFILE_DIR`` asks for it."""
    folder = os.environ.get("BENCH_PROFILE_DIR")
    spy = _py_spy() if folder else None
    if not folder:
        yield
        return
    if spy is None:
        raise RuntimeError("BENCH_PROFILE_DIR is set but py-spy is not installed")
    os.makedirs(folder, exist_ok=True)  # once per worker, before it is measured
    out = Path(folder) / f"{label}.txt"
    recorder = await asyncio.create_subprocess_exec(
        spy, "record", "--pid", str(pid), "--format", "raw", "--nonblocking", "--output",
        str(out), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        # It writes its file when the worker exits; SIGINT makes it write now if it has not.
        with suppress(ProcessLookupError):
            recorder.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(recorder.wait(), _STOP_SECONDS)
        except TimeoutError:
            recorder.kill()
            await recorder.wait()


@asynccontextmanager
async def subprocess_worker(
    module: str, env: dict[str, str], log: Path, label: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m module`` with ``env``, once it prints ``ready``; terminated (and waited for)
    when the block ends, however it ends. ``label`` names its profile, if one is taken."""
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=READY_SECONDS)
            if line.strip() != b"ready":
                raise RuntimeError(f"{module} did not start: {_tail(log)}")
            async with _profiled(process.pid, label):
                try:
                    yield process
                finally:  # the worker first: py-spy writes its profile as its target exits
                    await _stop(process)
        finally:  # a worker that never got ready (or raised before the profile began)
            await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Terminated, then killed if it has not gone within ``_STOP_SECONDS``."""
    if process.returncode is not None:
        return
    with suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), _STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def worker_env(pycache: Path) -> dict[str, str]:
    """This process's environment without Handrail's and OpenAI's settings, with bytecode on
    (``PYTHONPYCACHEPREFIX=pycache``): with ``PYTHONDONTWRITEBYTECODE=1`` (set on these
    machines) the workflow sandbox would compile the workflow module from source for every new
    workflow instance and every replay, which an installed worker does not."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HANDRAIL_", "OPENAI_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env
