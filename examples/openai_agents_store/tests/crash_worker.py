"""The agent's worker for the crash tests, run with ``python -m`` and ``[POINT NAME STEP]``.

With a kill point it SIGKILLs itself the first time that point is reached (``before_commit`` /
``after_commit`` of a Handrail tool or compensation at a step, counted from 0 as the
idempotency keys count): no cleanup, no completion reported, as a machine dies."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable

from examples.openai_agents_store.worker import serve
from handrail import HandrailSettings


def kill_at(at: str, tool: str, step: int) -> Callable[[str, str, str], None]:
    """The tools' fault hook (``faults``: point, tool, idempotency key) that kills here."""
    suffix = f"/{step}"

    def hook(point: str, name: str, idempotency_key: str) -> None:
        if (point, name) == (at, tool) and idempotency_key.endswith(suffix):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


if __name__ == "__main__":
    faults = {"faults": kill_at(sys.argv[1], sys.argv[2], int(sys.argv[3]))} if sys.argv[1:] else {}
    asyncio.run(serve(HandrailSettings(), **faults))
