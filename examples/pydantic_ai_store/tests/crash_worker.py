"""A pydantic-ai store worker that dies: ``python -m examples.pydantic_ai_store.tests.crash_worker
[POINT NAME STEP]``.

Settings come from the environment like ``worker.py``. With a kill point it SIGKILLs itself the
first time a Handrail tool or compensation ``NAME`` reaches ``POINT`` (``before_commit``,
``after_commit``) at step ``STEP`` (counted from 0): no cleanup, no completion reported, as a
machine dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from examples.pydantic_ai_store.worker import connect, running_worker
from handrail.settings import HandrailSettings
from handrail.tools.runner import FaultHook, FaultPoint, no_faults


def kill_at(at: str, tool: str, step: int) -> FaultHook:
    suffix = f"/{step}"

    def hook(point: FaultPoint, name: str, idempotency_key: str) -> None:
        if (point, name) == (at, tool) and idempotency_key.endswith(suffix):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


async def main(argv: list[str]) -> None:
    faults = kill_at(argv[0], argv[1], int(argv[2])) if argv else no_faults
    settings = HandrailSettings()
    async with running_worker(await connect(settings), settings, faults=faults):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
