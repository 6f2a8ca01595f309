"""Workers in their own processes, for tests that kill one (SIGKILL) as a machine would die.

``worker_env`` is the environment a worker host gets (nothing inherited from the developer's
``HANDRAIL_*`` / ``OPENAI_*`` settings); ``start_worker`` runs a module that prints ``ready`` once
polling (``tests.crash_worker`` by default) and waits for that line; ``worker_process`` does both
and kills the process at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from handrail.settings import HandrailSettings

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 60.0  # seconds: a cold start imports Temporal, SQLAlchemy, OpenAI


def worker_env(settings: HandrailSettings, api_key: str, **extra: str) -> dict[str, str]:
    """The environment of a worker host for ``settings``' server, queue, data folder and model
    endpoint (``extra``: more variables, e.g. ``HANDRAIL_STATE_URL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HANDRAIL_", "OPENAI_"))}
    env.update(
        HANDRAIL_TEMPORAL_ADDRESS=settings.temporal_address,
        HANDRAIL_TASK_QUEUE=settings.task_queue,
        HANDRAIL_DATA_DIR=str(settings.data_dir),
        HANDRAIL_EMBEDDED_SERVER="false",
        OPENAI_BASE_URL=settings.openai_base_url or "",
        OPENAI_API_KEY=api_key,
        **extra,
    )
    return env


async def start_worker(
    env: dict[str, str], *args: str, module: str = "tests.crash_worker"
) -> asyncio.subprocess.Process:
    """``python -m module args`` with ``env``, once it has printed its ``ready`` line."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        await asyncio.wait_for(process.stdout.readline(), timeout=READY_TIMEOUT)
    except BaseException:
        await stop_worker(process, kill=True)
        raise
    return process


async def stop_worker(process: asyncio.subprocess.Process, *, kill: bool = False) -> None:
    """Stop ``process`` if it still runs: SIGTERM (a clean stop), or SIGKILL with ``kill``."""
    if process.returncode is None:
        if kill:
            process.kill()
        else:
            process.terminate()
        await process.wait()


@asynccontextmanager
async def worker_process(
    env: dict[str, str], *args: str, module: str = "tests.crash_worker"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A started worker process for the block, killed at its end if it still runs."""
    process = await start_worker(env, *args, module=module)
    try:
        yield process
    finally:
        await stop_worker(process, kill=True)
