"""The workflows a client started, so that ``agent_worker`` can end those a test left running.

A client interceptor rather than a listing of the task queue: a queue a test names itself may
be shared (another test, another session on the same server), and only what this block started
is the block's to end. Each start is kept with its first run id, so that a later run under the
same workflow id (someone else's) is never the one terminated.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)


class StartedWorkflows(Interceptor):
    """Records every workflow started through a client built with it."""

    def __init__(self) -> None:
        self.started: list[tuple[str, str | None]] = []
        """(workflow id, first run id) of each start, in order."""

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Recorder(next, self)

    async def terminate_running(self, client: Client, reason: str) -> list[str]:
        """Terminate each recorded workflow that still runs; the ids terminated."""
        outcomes = await asyncio.gather(
            *(
                self._terminate(client, workflow_id, run, reason)
                for workflow_id, run in self.started
            )
        )
        return [start[0] for start, ended in zip(self.started, outcomes, strict=True) if ended]

    @staticmethod
    async def _terminate(
        client: Client, workflow_id: str, first_run: str | None, reason: str
    ) -> bool:
        handle = client.get_workflow_handle(workflow_id, first_execution_run_id=first_run)
        try:
            await handle.terminate(reason=reason)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:  # it ended by itself: nothing to do
                return False
            raise
        log.info("terminated task %s, left running by a test (%s)", workflow_id, reason)
        return True


class _Recorder(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, book: StartedWorkflows) -> None:
        super().__init__(next)
        self._book = book

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        handle = await super().start_workflow(input)
        self._book.started.append((handle.id, handle.first_execution_run_id))
        return handle
