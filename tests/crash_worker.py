"""A worker for the crash matrix: ``python -m tests.crash_worker [POINT NAME STEP]``.

Settings come from the environment like ``worker.py``. With a kill point it SIGKILLs itself the
first time that point is reached (``before_commit`` / ``after_commit`` of an action or
compensation at a step): no cleanup, no completion reported, exactly like a machine dying.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from examples.store.worker import running_worker
from handrail.client.core import connect_temporal
from handrail.settings import HandrailSettings
from handrail.tools.runner import FaultHook, FaultPoint, no_faults


def kill_at(at: FaultPoint, tool: str, step: int) -> FaultHook:
    suffix = f"/{step}"

    def hook(point: FaultPoint, name: str, idempotency_key: str) -> None:
        if (point, name) == (at, tool) and idempotency_key.endswith(suffix):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


async def main(argv: list[str]) -> None:
    faults = no_faults
    if argv:
        point, name, step = argv
        if point not in ("before_commit", "after_commit"):
            raise SystemExit(f"unknown kill point {point!r}")
        faults = kill_at(point, name, int(step))  # type: ignore[arg-type]  # checked above
    settings = HandrailSettings()
    client = await connect_temporal(settings)
    async with running_worker(client, settings, faults=faults):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
