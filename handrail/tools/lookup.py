"""The tools a task may use: the worker's declared tools plus those of the MCP servers its
profile names. The ``decide`` and ``load_profile`` activities ask here, so an MCP tool is found
by a worker that has not listed its server yet (another host, a restart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handrail.profiles.catalog import ProfileCatalog
from handrail.tools.registry import ToolRegistry
from handrail.tools.spec import ToolSpec

if TYPE_CHECKING:  # the mcp SDK is an optional dependency
    from handrail.contracts import McpServer
    from handrail.mcp.source import McpTools


class ToolLookup:
    """Declared tools by name, then the MCP servers' tools of a named profile."""

    def __init__(
        self, registry: ToolRegistry, catalog: ProfileCatalog, mcp: McpTools | None = None
    ) -> None:
        self.registry = registry
        self._catalog = catalog
        self._mcp = mcp
        # Resolved MCP tools by (profile, name): decide asks every step, and resolving reads the
        # profile file; a server's tool list is cached per worker anyway (McpTools.specs).
        self._resolved: dict[tuple[str, str], ToolSpec] = {}

    async def server_specs(self, server: McpServer) -> list[ToolSpec]:
        if self._mcp is None:
            raise LookupError(
                f"MCP server {server.name!r} is named by a profile, but this worker has no MCP "
                "support (install handrail[mcp])"
            )
        return await self._mcp.specs(server)

    async def get(self, name: str, profile: str | None) -> ToolSpec | None:
        spec = self.registry.get(name)
        if spec is not None or profile is None:
            return spec
        if (profile, name) not in self._resolved:
            for server in self._catalog.load(profile).mcp_servers:
                for listed in await self.server_specs(server):
                    self._resolved[(profile, listed.name)] = listed
        return self._resolved.get((profile, name))
