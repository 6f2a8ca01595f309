"""The ``load_profile`` activity: reads a profile file so that the run records what it used,
with every tool bound to the facts the workflow needs (declared tools and MCP servers' tools).

The autonomy levels a person set with ``promote`` / ``demote`` live in the state database
(``handrail.storage.autonomy_levels``), not in the file: the activity overlays them on the
file's rules, so every worker host gates with the same level. Its result is recorded in the
run's history, so each rule's ``autonomy`` there is the level the run was gated with, and a
replay uses it whatever the state says by then.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from handrail.contracts import LoadProfileRequest, Profile, ToolBinding, ToolRule
from handrail.errors import ErrorType, InvalidProfileError, UnknownProfileError
from handrail.profiles.catalog import ProfileCatalog, ProfileFile
from handrail.storage.autonomy_levels import AutonomyLevels, LevelInForce
from handrail.tools import ToolRegistry
from handrail.tools.facts import declared_facts, effect_of_rule
from handrail.tools.lookup import ToolLookup
from handrail.tools.spec import ToolSpec


def declared_binding(
    spec: ToolSpec, rule: ToolRule | None, *, describe: bool = False
) -> ToolBinding:
    """What the workflow knows of a declared tool: its spec's facts and the profile's rule."""
    # Unlisted tools: reads run on their own, anything else is supervised.
    default_rule = ToolRule(autonomy="autonomous" if spec.read_only else "supervised")
    return ToolBinding(
        **declared_facts(spec),
        rule=rule or default_rule,
        sensitive=list(spec.sensitive),
        summary=spec.summary,
        timeout=spec.timeout,
        heartbeat=spec.heartbeat,
        description=spec.description if describe else "",
    )


def _mcp_binding(spec: ToolSpec, rule: ToolRule | None) -> ToolBinding:
    """An MCP tool's facts come from the profile's rule; with none it is irreversible and
    supervised: never unreviewed, and only at the commit point."""
    rule = rule or ToolRule(autonomy="supervised")
    return ToolBinding(
        name=spec.name,
        **effect_of_rule(rule),
        parameters=spec.parameters,
        rule=rule,
        activity=spec.activity_name,
        summary=spec.summary,
    )


def _framework_binding(name: str, rule: ToolRule | None) -> ToolBinding:
    """A tool the agent's framework defines and runs (``framework_tools``): like an MCP tool,
    its effect comes from the profile's rule, irreversible and supervised with none. Its
    schema is the framework's own (it validates the arguments itself)."""
    rule = rule or ToolRule(autonomy="supervised")
    return ToolBinding(name=name, **effect_of_rule(rule), rule=rule, framework=True)


def _overlay(binding: ToolBinding, levels: Mapping[str, LevelInForce]) -> ToolBinding:
    """``binding`` at the level the state database holds for it, if a person changed it."""
    level = levels.get(binding.name)
    if level is None or level.autonomy == binding.rule.autonomy:
        return binding
    activity.logger.info(
        "%s at autonomy %r (the state's, change %d; the profile file says %r)",
        binding.name,
        level.autonomy,
        level.change_id,
        binding.rule.autonomy,
    )
    rule = ToolRule.model_validate({**binding.rule.model_dump(), "autonomy": level.autonomy})
    return binding.model_copy(update={"rule": rule})


class ProfileActivities:
    def __init__(
        self,
        catalog: ProfileCatalog,
        tools: ToolRegistry | ToolLookup,
        default_model: str,
        *,
        continue_after_events: int | None = None,
        levels: AutonomyLevels | None = None,
        default_profile: str | None = None,
    ) -> None:
        """``levels``: the state database's autonomy levels to overlay (none: the files').
        ``default_profile``: the profile of a task that names none (a caller other than
        ``HandrailClient``, which fills it in, may leave ``profile`` empty)."""
        self._default_profile = default_profile
        self._continue_after_events = continue_after_events
        self._levels = levels
        self._catalog = catalog
        self._lookup = tools if isinstance(tools, ToolLookup) else ToolLookup(tools, catalog)
        self._default_model = default_model

    @activity.defn(name="load_profile")
    async def load_profile(self, request: LoadProfileRequest) -> Profile:
        # A missing or broken profile will not fix itself on retry: fail the task at once.
        try:
            file = self._catalog.load(self._name(request.name))
        except UnknownProfileError as error:
            raise ApplicationError(
                str(error), type=ErrorType.UNKNOWN_PROFILE, non_retryable=True
            ) from None
        except InvalidProfileError as error:
            raise ApplicationError(
                str(error), type=ErrorType.INVALID_PROFILE, non_retryable=True
            ) from None
        bindings = [
            *self._declared(file, describe=request.describe_tools),
            *await self._from_mcp(file),
            *(_framework_binding(name, file.rules.get(name)) for name in file.framework_tools),
        ]
        if self._levels is not None:
            # A database error is worth a retry (Temporal's); gating with the file's level
            # instead would let one host run a tool a person demoted.
            in_force = await self._levels.current_async(file.name)
            bindings = [_overlay(binding, in_force) for binding in bindings]
        return Profile(
            name=file.name,
            description=file.description,
            model=file.model or self._default_model,
            system_prompt=file.system_prompt,
            tools=bindings,
            max_steps=file.max_steps,
            max_tokens=file.max_tokens,
            max_duration_seconds=file.max_duration_seconds,
            review_tiers=file.review_tiers,
            final_answer=file.final_answer,
            commit=file.commit,
            max_consecutive_refusals=file.max_consecutive_refusals,
            mcp_servers=file.mcp_servers,
            continue_after_events=self._continue_after_events,
        )

    def _name(self, requested: str) -> str:
        if requested:
            return requested
        if self._default_profile is None:
            raise UnknownProfileError(
                "the task names no profile and this worker has no default "
                "(HANDRAIL_DEFAULT_PROFILE); known: " + (", ".join(self._catalog.names()) or "none")
            )
        return self._default_profile

    def _declared(self, file: ProfileFile, *, describe: bool) -> list[ToolBinding]:
        registry = self._lookup.registry
        bindings = []
        for name in file.tools:
            spec = registry.get(name)
            if spec is None:
                raise ApplicationError(
                    f"profile {file.name!r} names tool {name!r}, which is not registered "
                    f"(registered: {', '.join(registry.names)})",
                    type=ErrorType.INVALID_PROFILE,
                    non_retryable=True,
                )
            bindings.append(declared_binding(spec, file.rules.get(name), describe=describe))
        return bindings

    async def _from_mcp(self, file: ProfileFile) -> list[ToolBinding]:
        # Listing a server may fail for a moment (it is starting): Temporal retries this activity.
        bindings = []
        for server in file.mcp_servers:
            for spec in await self._lookup.server_specs(server):
                bindings.append(_mcp_binding(spec, file.rules.get(spec.name)))
        return bindings
