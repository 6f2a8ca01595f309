"""The tools a worker can run, by name: declared tools, their compensations, and tools whose
specs come from elsewhere (MCP servers). Built once by the worker; not imported by workflow
code."""

from __future__ import annotations

from collections.abc import Iterable

from handrail.errors import ConfigurationError
from handrail.tools.declare import Compensation, Tool
from handrail.tools.spec import ToolSpec


class ToolRegistry:
    """Tools by name, checked for consistency when built."""

    def __init__(
        self, tools: Iterable[Tool | ToolSpec] = (), compensations: Iterable[Compensation] = ()
    ) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._tools: dict[str, Tool] = {}
        self._compensations: dict[str, Compensation] = {}
        for item in tools:
            spec = item.spec if isinstance(item, Tool) else item
            if spec.name in self._specs:
                raise ConfigurationError(f"tool {spec.name!r} is registered twice")
            self._specs[spec.name] = spec
            if isinstance(item, Tool):
                self._tools[spec.name] = item
        for undo in compensations:
            if undo.name in self._compensations:
                raise ConfigurationError(f"compensation {undo.name!r} is registered twice")
            self._compensations[undo.name] = undo
        problems = self.problems()
        if problems:
            raise ConfigurationError("; ".join(problems))

    def problems(self) -> list[str]:
        """What does not fit together: a declared tool whose compensation is missing. (A
        compensation may undo a tool that is not declared here: an MCP server's, named by a
        profile's rule, which the plugin checks against the profiles.)"""
        found = []
        for tool in self._tools.values():
            wanted = tool.spec.compensation
            if wanted is not None and wanted not in self._compensations:
                found.append(
                    f"tool {tool.name!r} is compensated by {wanted!r}, which is not registered"
                )
        return found

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def get(self, name: str) -> ToolSpec | None:
        return self._specs.get(name)

    def tool(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def compensation(self, name: str) -> Compensation | None:
        return self._compensations.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    @property
    def compensations(self) -> list[Compensation]:
        return list(self._compensations.values())
