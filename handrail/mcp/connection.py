"""Talking to one MCP server through the official ``mcp`` SDK: list its tools, call one.

Stateless by default (as Temporal's own MCP integration is): each list or call opens a session,
does its one thing and closes it, so an activity retried on another worker host needs no session
it cannot have. A stdio server is started for the session and stopped after it.

Credentials come from the worker's settings, never from the profile (which workflow history
records): a server's token goes into an ``Authorization: Bearer`` header over HTTP, and into the
``MCP_TOKEN`` environment variable of a stdio server's process.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import RequestParamsMeta
from pydantic import SecretStr

from handrail.contracts import McpServer

TOKEN_ENV = "MCP_TOKEN"
IDEMPOTENCY_META = "handrail/idempotency_key"
"""The ``_meta`` key carrying a call's idempotency key, for servers that deduplicate by it."""


@dataclass(frozen=True)
class ListedTool:
    """A tool as the server lists it."""

    name: str
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class CallResult:
    """A call's result: its text (content joined, structured content as JSON) and whether the
    server reported it as an error (``is_error``: the model reads it as a refusal)."""

    text: str
    is_error: bool


@asynccontextmanager
async def _session(server: McpServer, token: SecretStr | None) -> AsyncIterator[ClientSession]:
    if server.url:
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else None
        async with (
            create_mcp_http_client(headers=headers) as http,
            streamable_http_client(server.url, http_client=http) as streams,
            ClientSession(streams[0], streams[1]) as session,
        ):
            await session.initialize()
            yield session
        return
    env = {**server.env, **({TOKEN_ENV: token.get_secret_value()} if token else {})}
    parameters = StdioServerParameters(
        command=server.command[0], args=server.command[1:], env=env, cwd=os.getcwd()
    )
    async with (
        stdio_client(parameters) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def list_tools(server: McpServer, token: SecretStr | None) -> list[ListedTool]:
    async with _session(server, token) as session:
        listed = await session.list_tools()
    return [
        ListedTool(name=t.name, description=t.description or t.name, schema=dict(t.input_schema))
        for t in listed.tools
    ]


async def call_tool(
    server: McpServer,
    token: SecretStr | None,
    tool: str,
    arguments: dict[str, Any],
    idempotency_key: str,
) -> CallResult:
    async with _session(server, token) as session:
        meta = cast(RequestParamsMeta, {IDEMPOTENCY_META: idempotency_key})
        result = await session.call_tool(tool, arguments, meta=meta)
    parts = [getattr(block, "text", "") for block in result.content]
    if result.structured_content is not None and not any(parts):
        parts = [json.dumps(result.structured_content, sort_keys=True, default=str)]
    return CallResult(text="\n".join(p for p in parts if p), is_error=bool(result.is_error))
