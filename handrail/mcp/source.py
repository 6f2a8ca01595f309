"""MCP servers as tool sources: their tools as ``ToolSpec``s, and one call activity per server.

A profile names its servers (``[[mcp_servers]]``); at start the plugin registers, for each server
named by any loaded profile, the activity ``<name>-call-tool``. A server's tool list is read once
per worker and cached. The gate treats MCP tools like any other, with their effect kind,
compensation and limits from the profile's ``[rules.TOOL]``; a tool with no rule is irreversible
and supervised, so it never runs unreviewed (and runs only at the commit point).

Calls go through the effect journal like declared tools: a retried call whose result is recorded
returns it without calling the server again, and the idempotency key travels to the server in
the call's ``_meta`` for servers that deduplicate by it. Results are bounded in size: a larger
one is cut, and says so, so that no server can push a step past Temporal's payload limit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import SecretStr
from temporalio import activity

from handrail.contracts import McpServer, ToolCall, ToolOutcome
from handrail.mcp.connection import call_tool, list_tools
from handrail.storage.journal import EffectJournal
from handrail.tools.runner import replayed
from handrail.tools.spec import ToolSpec

DEFAULT_MAX_RESULT_BYTES = 64 * 1024


def call_activity_name(server: McpServer) -> str:
    return f"{server.name}-call-tool"


def _bounded(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[:limit].decode(errors="ignore")
    return f"{kept}\n[truncated by Handrail: {len(data):,} bytes in all, {limit:,} kept]"


def _result(text: str) -> dict[str, Any]:
    """A JSON object as it is; anything else under ``content``."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


class McpTools:
    """The MCP servers a worker talks to, their cached tool lists and their call activities."""

    def __init__(
        self,
        journal: EffectJournal,
        tokens: Mapping[str, SecretStr] | None = None,
        *,
        max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> None:
        self._journal = journal
        self._tokens = dict(tokens or {})
        self._max = max_result_bytes
        self._specs: dict[str, list[ToolSpec]] = {}

    async def specs(self, server: McpServer) -> list[ToolSpec]:
        """The server's tools (listed once per worker and configuration)."""
        cache_key = server.model_dump_json()
        if cache_key not in self._specs:
            listed = await list_tools(server, self._tokens.get(server.name))
            self._specs[cache_key] = [
                ToolSpec(
                    name=server.prefix + tool.name,
                    description=tool.description,
                    schema=tool.schema,
                    # The safe default; the profile's rule says otherwise if it knows better.
                    irreversible=True,
                    activity=call_activity_name(server),
                )
                for tool in listed
            ]
        return self._specs[cache_key]

    def call_activity(self, server: McpServer) -> Callable[..., Any]:
        """The activity ``<name>-call-tool`` for ``server``."""

        async def call_mcp_tool(call: ToolCall) -> ToolOutcome:
            started = time.monotonic()
            outcome = await self._call(server, call)
            # As for declared tools: this attempt's own duration, also when the journal answers.
            return outcome.model_copy(
                update={
                    "latency_ms": (time.monotonic() - started) * 1000,
                    "attempt": activity.info().attempt,
                }
            )

        return activity.defn(name=call_activity_name(server))(call_mcp_tool)

    async def _call(self, server: McpServer, call: ToolCall) -> ToolOutcome:
        exposed = call.tool or ""
        tool = exposed.removeprefix(server.prefix)
        key = call.idempotency_key
        earlier = replayed(await self._journal.lookup(key), exposed)
        if earlier is not None:
            return earlier
        result = await call_tool(server, self._tokens.get(server.name), tool, call.arguments, key)
        text = _bounded(result.text, self._max)
        if result.is_error:
            return ToolOutcome(ok=False, error=text, summary=f"{exposed}: refused")
        outcome = ToolOutcome(ok=True, result=_result(text), summary=f"{exposed} via MCP")
        await self._journal.record_applied(
            key, tool=exposed, task_id=call.task_id, result=outcome.model_dump(mode="json")
        )
        return outcome
