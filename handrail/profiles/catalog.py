"""Profiles as files a person reads and edits: ``<folder>/<name>.toml``, from several folders.

The catalog validates a file with pydantic and names the bad field and file in its error, so a
typo in a profile is found when the task starts, not three steps into a run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from handrail.contracts import CommitRule, FinalAnswerRule, McpServer, ReviewTier, ToolRule
from handrail.contracts.profile import OutsideScope, ShadowRule
from handrail.errors import InvalidProfileError, UnknownProfileError, describe_validation_error

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

MCP_TOOL_IN_TOOLS = (
    "{name!r} is listed in `tools`, which names registered (@tool) tools only; an MCP "
    "server's tools are not listed there (its [[mcp_servers]] entry brings them all, each "
    "governed by its [rules.TOOL]): take {name!r} out of `tools`"
)
"""Why a profile naming an MCP tool in ``tools`` is refused, and what to do instead."""


class _ShadowFile(ShadowRule):
    model_config = ConfigDict(extra="forbid")


class _RuleFile(ToolRule):
    model_config = ConfigDict(extra="forbid")

    # The file's shadow refuses unknown keys too (`[rules.TOOL.shadow]`): a misspelt shadow
    # field would otherwise measure the enforced rule against itself, silently.
    shadow: _ShadowFile | None = None


class _TierFile(ReviewTier):
    model_config = ConfigDict(extra="forbid")


class _FinalAnswerFile(FinalAnswerRule):
    model_config = ConfigDict(extra="forbid")


class _CommitFile(CommitRule):
    model_config = ConfigDict(extra="forbid")


class _McpServerFile(McpServer):
    model_config = ConfigDict(extra="forbid")


class AutonomyBar(BaseModel):
    """When ``starter.py stats`` recommends moving a tool one autonomy level (``[autonomy]``).

    Reviews are counted per tool; ``handrail/trust/autonomy.py`` explains which ones. A
    promotion is applied only by a person (``starter.py promote``); a demotion by a person too,
    or by the worker itself after the run that showed it (``auto_demote``).
    """

    model_config = ConfigDict(extra="forbid")

    min_reviews: int = Field(
        default=20, ge=1, description="Decided reviews needed before any recommendation."
    )
    promote_at: float = Field(
        default=0.95, ge=0, le=1, description="Recommend promoting at this agreement or above."
    )
    demote_below: float = Field(
        default=0.80, ge=0, le=1, description="Recommend demoting below this agreement."
    )
    target_error_rate: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="Calibration: the error rate auto-approved actions may have at most; "
        "`stats` recommends the lowest `min_confidence` whose reviewed actions' one-sided 95% "
        "upper bound on the error rate is at or below it (``handrail/trust/calibration.py``).",
    )

    auto_demote: bool = Field(
        default=True,
        description="Demote a tool as soon as a finished run shows the evidence `stats` would "
        "recommend it on (``handrail/trust/auto_demotion.py``); false: only a person demotes.",
    )

    @model_validator(mode="after")
    def _bars_in_order(self) -> AutonomyBar:
        if self.demote_below > self.promote_at:
            raise ValueError(
                f"demote_below ({self.demote_below}) is above promote_at ({self.promote_at})"
            )
        return self


class ProfileFile(BaseModel):
    """The schema of a profile file. Unknown keys are refused: they are almost always typos."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    description: str = ""
    model: str = ""
    system_prompt: str = Field(min_length=1)
    tools: list[str] = Field(default_factory=list)
    framework_tools: list[str] = Field(
        default_factory=list,
        description="Tools an agent built with another framework defines and runs itself "
        "(handrail.frameworks): governed by their [rules.TOOL], whose `effect` and "
        "`compensation` say what they do, as for an MCP tool (none: irreversible).",
    )
    max_steps: int = Field(default=8, ge=1, le=10_000)
    max_tokens: int | None = Field(default=None, ge=1)
    max_duration_seconds: float | None = Field(default=None, gt=0)
    rules: dict[str, _RuleFile] = Field(
        default_factory=dict, description="Per-tool autonomy, thresholds and limits."
    )
    review_tiers: list[_TierFile] = Field(default_factory=list)
    final_answer: _FinalAnswerFile = Field(
        default_factory=_FinalAnswerFile, description="How final answers are gated."
    )
    max_consecutive_refusals: int = Field(
        default=3, ge=1, description="Refused steps in a row before the task escalates."
    )
    commit: _CommitFile = Field(
        default_factory=_CommitFile, description="What a failure at the commit point keeps."
    )
    outside_scope: OutsideScope = Field(
        default="deny",
        description="What an action outside the task's scope gets (rules with a `scope`), "
        "unless its rule says otherwise: 'deny' (refused, the model is told why) or 'review'.",
    )
    mcp_servers: list[_McpServerFile] = Field(
        default_factory=list, description="MCP servers whose tools the profile may call."
    )
    autonomy: AutonomyBar = Field(
        default_factory=AutonomyBar, description="Bars for earned-autonomy recommendations."
    )

    @model_validator(mode="after")
    def _rules_name_enabled_tools(self) -> ProfileFile:
        # An MCP server's tools are known only once it is listed: their rules are checked then.
        listed = {*self.tools, *self.framework_tools}
        stray = sorted(set(self.rules) - listed) if not self.mcp_servers else []
        if stray:
            raise ValueError(
                f"rules for tools not in `tools` or `framework_tools`: {', '.join(stray)}"
            )
        both = sorted(set(self.tools) & set(self.framework_tools))
        if both:
            raise ValueError(
                f"{', '.join(both)} listed in both `tools` (declared with @tool, run by Handrail) "
                "and `framework_tools` (run by the agent's framework): keep one"
            )
        names = [server.name for server in self.mcp_servers]
        if len(names) != len(set(names)):
            raise ValueError(f"MCP server names repeat: {', '.join(names)}")
        for name, rule in self.rules.items():
            if name in self.tools and (rule.effect or rule.compensation) and self.mcp_servers:
                raise ValueError(MCP_TOOL_IN_TOOLS.format(name=name))
            if name in self.tools and (rule.effect or rule.compensation):
                raise ValueError(
                    f"rules.{name}: `effect` and `compensation` are for MCP tools; a declared "
                    "tool states its own"
                )
            if (rule.effect == "compensated") != (rule.compensation is not None):
                raise ValueError(
                    f"rules.{name}: effect 'compensated' and a `compensation` go together"
                )
        self._settle_scopes()
        return self

    def _settle_scopes(self) -> None:
        """Each bound rule gets the profile's ``outside_scope`` unless it sets its own: the
        recorded profile then carries the answer per tool, for the policy inside the workflow."""
        for name, rule in self.rules.items():
            if rule.shadow is not None and rule.shadow.outside_scope and not rule.scope:
                raise ValueError(f"rules.{name}.shadow: outside_scope set without a `scope`")
            if not rule.scope:
                stray = {"scope_required", "outside_scope"} & rule.model_fields_set
                if stray:
                    keys = " and ".join(sorted(stray))
                    raise ValueError(f"rules.{name}: {keys} set without a `scope`")
            elif rule.outside_scope is None:
                self.rules[name] = rule.model_copy(update={"outside_scope": self.outside_scope})


class ProfileCatalog:
    """The profiles in one or more folders, searched in order: the user's folders first, then
    the bundled ones. A name found in two folders is taken from the first; ``shadowed`` says
    which, so a worker can say so at start instead of hiding a profile silently."""

    def __init__(self, folders: Sequence[Path] | Path) -> None:
        self.folders = [folders] if isinstance(folders, Path) else list(folders)

    @property
    def directory(self) -> Path:
        """The first folder: where ``promote`` and ``demote`` edit a profile's file."""
        return self.folders[0]

    def _paths(self) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        for folder in self.folders:
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, []).append(path)
        return found

    def names(self) -> list[str]:
        return sorted(self._paths())

    def shadowed(self) -> dict[str, list[Path]]:
        """Profile names defined in more than one folder: the first path is the one used."""
        return {name: paths for name, paths in self._paths().items() if len(paths) > 1}

    def path(self, name: str) -> Path | None:
        """The file that defines ``name``, if any."""
        paths = self._paths().get(name) if _NAME.match(name) else None
        return paths[0] if paths else None

    def load(self, name: str) -> ProfileFile:
        """The named profile; ``UnknownProfileError`` or ``InvalidProfileError`` otherwise.

        Messages name the file, never the folder: they travel in task failures to callers who
        have no business knowing the worker's file system.
        """
        path = self.path(name)
        if path is None:
            known = ", ".join(self.names()) or "none"
            raise UnknownProfileError(f"unknown profile {name!r} (known: {known})")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise InvalidProfileError(
                f"profile file {path.name} is not valid TOML: {error}"
            ) from None
        try:
            profile = ProfileFile.model_validate(data)
        except ValidationError as error:
            raise InvalidProfileError(
                f"{describe_validation_error('profile', error)} (in {path.name})"
            ) from None
        if profile.name != name:
            raise InvalidProfileError(f"profile file {path.name} declares name {profile.name!r}")
        return profile
