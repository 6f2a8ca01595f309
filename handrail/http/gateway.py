"""What every route shares: the Handrail client, the token book, the state database (one
engine for the app's life, closed by its lifespan), the tools' specs (given, or declared by the
workers in that database), and the few Temporal reads that decide between 404, 409 and 503
before a client call would block."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from handrail.client.core import STARTER_MEMO, HandrailClient
from handrail.client.history import worker_polls
from handrail.errors import UnknownTaskError
from handrail.http.auth import Bearer, Principal, TokenBook, authenticate
from handrail.http.errors import ApiError
from handrail.settings import HandrailSettings
from handrail.storage.declared_tools import DeclaredTool, DeclaredTools
from handrail.storage.engine import StateDatabase
from handrail.tools.spec import ToolSpec

REVIEW_TIMEOUT_SECONDS: Final = 30.0
"""How long a review update may take before the gateway gives up (504): a live worker answers
in milliseconds. A worker that stopped moments ago still looks alive to the server, so the
update waits for it; the reviewer is told, and can look again (``Gateway.review_timeout``)."""

DECLARED_TOOLS_TTL: Final = 5.0
"""How long the gateway keeps what it read of the declared tools (seconds)."""

UNKNOWN_TOOL_TTL: Final = 1.0
"""How soon a tool the gateway did not find is looked for again (a worker just started)."""

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """The app's shared state (``app.state.gateway``)."""

    handrail: HandrailClient
    tokens: TokenBook
    state: StateDatabase
    """Handrail's state database (declared tools, used links): one pool for the app's life,
    not one per request; it connects on first use and ``aclose`` closes it."""
    tools: dict[str, ToolSpec] = field(default_factory=dict)
    task_queue: str | None = None
    """Only tasks on this queue are visible (``None``: every queue of the namespace)."""
    declared: dict[str, DeclaredTool] = field(default_factory=dict)
    """The tools the workers declared in the state database, as last read."""
    declared_read_at: float | None = None
    declared_tools: DeclaredTools | None = None
    """Where they are read from: one, so its schema check runs once, not at every refresh."""
    review_timeout: float = REVIEW_TIMEOUT_SECONDS
    """Seconds a review update (API, inbox or link) may take before the answer is 504."""

    @classmethod
    def build(
        cls,
        handrail: HandrailClient,
        *,
        tools: Iterable[ToolSpec] = (),
        task_queue: str | None = None,
    ) -> Gateway:
        settings = handrail.settings
        return cls(
            handrail=handrail,
            tokens=TokenBook(
                settings.reviewer_tokens, settings.api_tokens, read_all=settings.api_read_all
            ),
            tools={spec.name: spec for spec in tools},
            task_queue=task_queue,
            state=StateDatabase(settings.state_database_url),
        )

    @property
    def settings(self) -> HandrailSettings:
        return self.handrail.settings

    async def aclose(self) -> None:
        """Close the state database's connections (the app's lifespan does, at shutdown)."""
        await self.state.aclose()

    async def describe(self, task_id: str) -> WorkflowExecutionDescription:
        """The task's workflow; ``UnknownTaskError`` (404) if there is none this gateway
        serves."""
        handle = self.handrail.temporal.get_workflow_handle(task_id)
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                raise UnknownTaskError(f"no task {task_id!r}") from None
            raise
        if self.task_queue is not None and description.task_queue != self.task_queue:
            # Another deployment's task in the same namespace: not ours to show or decide.
            raise UnknownTaskError(f"no task {task_id!r}")
        return description

    async def readable(self, task_id: str, caller: Principal) -> WorkflowExecutionDescription:
        """``describe``, for a caller allowed to read the task; else the same 404 as for no
        task, so that a service cannot learn which ids other services use."""
        description = await self.describe(task_id)
        if not await may_read(caller, description):
            raise UnknownTaskError(f"no task {task_id!r}")
        return description

    async def running_with_worker(self, task_id: str) -> WorkflowExecutionDescription:
        """The task, if it runs and a worker can answer for it; else 409 or 503 with why (an
        update to a task nobody serves would wait forever)."""
        description = await self.describe(task_id)
        if description.status != WorkflowExecutionStatus.RUNNING:
            status = description.status.name.lower() if description.status else "closed"
            raise ApiError(
                409, "TaskNotRunning", f"task {task_id} has ended ({status}): nothing to decide"
            )
        if not await worker_polls(self.handrail.temporal, description.task_queue):
            raise ApiError(
                503,
                "NoWorker",
                f"task {task_id} is waiting but no worker polls task queue "
                f"{description.task_queue!r} to take the decision; start one",
            )
        return description

    async def tool(self, name: str) -> ToolSpec | DeclaredTool | None:
        """What the gateway knows of a tool: its spec given to ``create_app``, else what the
        workers declared in the state database (``handrail.storage.declared_tools``)."""
        spec = self.tools.get(name)
        if spec is not None:
            return spec
        read_at = self.declared_read_at
        keep = DECLARED_TOOLS_TTL if name in self.declared else UNKNOWN_TOOL_TTL
        if read_at is None or time.monotonic() - read_at > keep:
            if self.declared_tools is None:
                self.declared_tools = DeclaredTools(self.state)
            state = self.declared_tools
            try:
                self.declared = await asyncio.to_thread(state.all)
            except SQLAlchemyError as error:  # the inbox still works: edits as raw JSON
                log.warning("cannot read the declared tools from %s: %s", state, error)
            self.declared_read_at = time.monotonic()
        return self.declared.get(name)

    async def schema(self, tool: str) -> Mapping[str, Any] | None:
        """The JSON schema of the tool's arguments, if known (the inbox's edit form)."""
        found = await self.tool(tool)
        return found.parameters if found is not None else None

    async def amount(self, tool: str, arguments: dict[str, Any]) -> Any:
        """The money an action moves, when its tool declares an amount argument."""
        spec = await self.tool(tool)
        name = spec.amount_field if spec is not None else "amount"
        return arguments.get(name) if name else None


async def may_read(caller: Principal, description: WorkflowExecutionDescription) -> bool:
    """Reviewers read every task; a service the tasks it started (its name in the task's
    memo), or all of them with ``HANDRAIL_API_READ_ALL``. A task started without the gateway
    (CLI, SDK) has no starter: only reviewers and read-all services read it."""
    if caller.kind == "reviewer" or caller.read_all:
        return True
    starter = await description.memo_value(STARTER_MEMO, None)
    return bool(starter == caller.name)


def gateway_of(request: Request) -> Gateway:
    gateway = request.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway


def api_caller(request: Request, credentials: Bearer) -> Principal:
    """The API's caller, by ``Authorization: Bearer``. The inbox's cookie is not accepted
    here: an API that took cookies would need the inbox's CSRF checks on every route."""
    return authenticate(gateway_of(request).tokens, credentials)
