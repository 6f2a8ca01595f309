"""``HandrailPlugin``: Handrail as a Temporal plugin that a team's own agent plugs into.

It registers ``AgentWorkflow``, Handrail's activities (``decide``, ``load_profile``,
``notify_reviewers``, ``record_run``) and the team's declared tools and compensations on a
worker, and composes with other plugins and the team's own data converter, codec and
interceptors (see temporalio's ``SimplePlugin``)::

    plugin = HandrailPlugin(
        settings,
        tools=[lookup_ticket, close_ticket, notify_requester],
        compensations=[reopen_ticket],
        model=OpenAIChatModel(AsyncOpenAI(max_retries=0)),
        profiles=[Path("profiles")],
    )
    client = await Client.connect("localhost:7233", plugins=[plugin])
    worker = Worker(client, task_queue="helpdesk")  # inherits the plugin from the client

Built, it checks that every tool and compensation a loaded profile names is registered: a
missing one stops the worker at start with its name, not at rollback after twenty retries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, DefaultPayloadConverter
from temporalio.plugin import SimplePlugin
from temporalio.worker import Replayer, WorkflowReplayResult, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from handrail.activities.ledger import RunRecorder
from handrail.activities.llm import LlmActivities
from handrail.activities.notify import ReviewerNotifier
from handrail.activities.profiles import ProfileActivities
from handrail.contracts import McpServer, ToolRule
from handrail.errors import ConfigurationError, InvalidProfileError
from handrail.model.adapter import ModelAdapter
from handrail.policy.scope import scope_problems
from handrail.profiles.catalog import MCP_TOOL_IN_TOOLS, ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_levels import AutonomyLevels
from handrail.storage.conversations import ConversationStore
from handrail.storage.declared_tools import DeclaredTool, DeclaredTools
from handrail.storage.engine import StateDatabase
from handrail.storage.journal import EffectJournal
from handrail.storage.ledger import RunLedger
from handrail.storage.limits import SharedLimits
from handrail.telemetry.core import Telemetry
from handrail.tools.declare import Compensation, Tool
from handrail.tools.facts import declared_facts
from handrail.tools.lookup import ToolLookup
from handrail.tools.registry import ToolRegistry
from handrail.tools.runner import FaultHook, ToolActivities, no_faults
from handrail.tools.spec import ToolSpec
from handrail.trust.auto_demotion import AutoDemotion
from handrail.trust.tool_facts import ToolFacts
from handrail.workflows.agent import AgentWorkflow

log = logging.getLogger(__name__)

PLUGIN_NAME = "handrail.HandrailPlugin"

# The workflow's own module, passed through the sandbox as every module it imports already is
# (loop, governor, review desk: ``imports_passed_through`` in workflows/agent.py). Left to the
# sandbox, each new workflow instance (every start, and every replay after an eviction from the
# cache) executes workflows/agent.py again and keeps its own copy of the module's classes for as
# long as it is cached: ~4% of a loaded worker's CPU and a share of each cached task's memory
# (docs/benchmarks.md, paused scale). Passing it through changes no command a workflow emits.
PASSED_THROUGH_WORKFLOW_MODULES = ("handrail.workflows.agent",)


def with_pydantic(existing: DataConverter | None) -> DataConverter:
    """The caller's data converter (its codec and failure converter kept) with pydantic
    payloads, which every Handrail contract needs. A custom payload converter is kept as it is:
    it must then handle pydantic models itself."""
    base = existing or DataConverter.default
    if base.payload_converter_class is DefaultPayloadConverter:
        return dataclasses.replace(base, payload_converter_class=PydanticPayloadConverter)
    return base


def pass_workflow_modules_through(existing: WorkflowRunner | None) -> WorkflowRunner:
    """The worker's sandbox (the SDK's default when none is set) with Handrail's workflow module
    passed through; a runner that is no sandbox (a team's own) as it is."""
    if existing is None:
        existing = SandboxedWorkflowRunner()
    if not isinstance(existing, SandboxedWorkflowRunner):
        return existing
    restrictions = existing.restrictions.with_passthrough_modules(*PASSED_THROUGH_WORKFLOW_MODULES)
    return dataclasses.replace(existing, restrictions=restrictions)


def profile_problems(catalog: ProfileCatalog, registry: ToolRegistry) -> list[str]:
    """Every tool and compensation the catalog's profiles name that ``registry`` lacks."""
    problems = []
    for name in catalog.names():
        try:
            profile = catalog.load(name)
        except InvalidProfileError as error:
            problems.append(str(error))
            continue
        for tool in profile.tools:
            spec = registry.get(tool)
            if spec is None and profile.mcp_servers:  # most likely one of a server's tools
                problems.append(
                    f"profile {name!r}: {MCP_TOOL_IN_TOOLS.format(name=tool)}, or register it"
                )
                continue
            if spec is None:
                problems.append(f"profile {name!r} names tool {tool!r}, which is not registered")
                continue
            if spec.compensation is not None and registry.compensation(spec.compensation) is None:
                problems.append(
                    f"profile {name!r}: tool {tool!r} is compensated by {spec.compensation!r}, "
                    "which is not registered"
                )
        problems += _shared_limit_problems(name, profile.rules, registry)
        for tool, rule in profile.rules.items():  # a scope binding an argument never sent
            spec = registry.get(tool)
            if spec is not None:
                where = f"profile {name!r}: "
                problems += [where + p for p in scope_problems(tool, rule, spec.parameters)]
        for tool, rule in profile.rules.items():  # an MCP tool's compensation, from its rule
            if rule.compensation is not None and registry.compensation(rule.compensation) is None:
                problems.append(
                    f"profile {name!r}: rules.{tool} names compensation {rule.compensation!r}, "
                    "which is not registered"
                )
    return problems


def _shared_limit_problems(
    profile: str, rules: Mapping[str, ToolRule], registry: ToolRegistry
) -> list[str]:
    """A shared limit the tool activity could not enforce: a limit never silently ignored."""
    problems = []
    for tool, rule in rules.items():
        if rule.shared_limit is None:
            continue
        spec = registry.get(tool)
        where = f"profile {profile!r}: rules.{tool}"
        if spec is None or spec.arguments is None or spec.read_only:
            problems.append(f"{where}: shared_limit is enforced for declared actions only")
            continue
        if spec.amount_field is None:
            problems.append(f"{where}: shared_limit needs a tool with an amount_field")
        if rule.shared_limit_per is not None and rule.shared_limit_per not in (
            spec.arguments.model_fields
        ):
            problems.append(f"{where}: shared_limit_per names no argument of {tool}")
    return problems


def declared_tools(registry: ToolRegistry) -> list[DeclaredTool]:
    """What the worker writes into the state database of each tool it registers, for the hosts
    that run none of them (``stats``, ``promote``, the gateway)."""
    return [
        DeclaredTool(**declared_facts(spec))
        for spec in map(registry.get, registry.names)
        if spec is not None
    ]


def mcp_servers(catalog: ProfileCatalog) -> list[McpServer]:
    """Every MCP server the catalog's profiles name, once; one name must mean one server."""
    servers: dict[str, McpServer] = {}
    for name in catalog.names():
        for server in catalog.load(name).mcp_servers:
            known = servers.setdefault(server.name, McpServer.model_validate(server.model_dump()))
            if known.model_dump() != server.model_dump():
                raise ConfigurationError(
                    f"MCP server {server.name!r} is configured differently in two profiles"
                )
    return list(servers.values())


class HandrailPlugin(SimplePlugin):
    """Registers Handrail and a team's tools on every worker built with it."""

    def __init__(
        self,
        settings: HandrailSettings,
        *,
        tools: Sequence[Tool | ToolSpec],
        compensations: Sequence[Compensation] = (),
        model: ModelAdapter,
        profiles: Sequence[Path] | None = None,
        telemetry: Telemetry | None = None,
        extra_activities: Sequence[Callable[..., Any]] = (),
        faults: FaultHook = no_faults,
        on_worker_stop: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        """``profiles``: the profile folders, searched in order (default: the settings'
        folders). ``extra_activities``: activities the tools' specs
        point at that are not declared tools (an MCP server's call activity). ``faults`` is a
        testing seam (``handrail.tools.runner``). ``on_worker_stop``: what your tools hold
        open (a database pool, an HTTP client), closed when a worker built with this stops."""
        self._on_worker_stop = list(on_worker_stop)
        self.registry = ToolRegistry(tools, compensations)
        self.catalog = ProfileCatalog(list(profiles) if profiles else settings.profile_folders)
        problems = profile_problems(self.catalog, self.registry)
        if problems:
            raise ConfigurationError("cannot start the worker: " + "; ".join(problems))
        for name, paths in self.catalog.shadowed().items():
            log.warning("profile %r is taken from %s (it shadows %s)", name, paths[0], paths[1:])
        telemetry = telemetry or Telemetry()
        # One state database (HANDRAIL_STATE_URL) behind every store; its schema is upgraded
        # on first use, and its pooled connections closed when a worker built with this ends.
        self.state = StateDatabase(settings.state_database_url)
        conversations = ConversationStore(self.state)
        journal = EffectJournal(self.state)
        servers = mcp_servers(self.catalog)
        mcp_activities: list[Callable[..., Any]] = []
        mcp = None
        if servers:
            from handrail.mcp.source import McpTools  # the mcp SDK is an optional dependency

            mcp = McpTools(journal, settings.mcp_tokens)
            mcp_activities = [mcp.call_activity(server) for server in servers]
        lookup = ToolLookup(self.registry, self.catalog, mcp)
        decide = LlmActivities(model, conversations, lookup, context_steps=settings.context_steps)
        profile_loader = ProfileActivities(
            self.catalog,
            lookup,
            settings.model,
            continue_after_events=settings.continue_as_new_after_events,
            levels=AutonomyLevels(self.state),  # promote/demote's levels: one truth for all hosts
            default_profile=settings.default_profile,
        )
        # Signed notices and single-click links when their settings are there (webhook secret,
        # link secret and public URL): built in the activity, so no key enters history.
        notifier = self._notifier = ReviewerNotifier.from_settings(settings)
        ledger = RunLedger(self.state)
        # Narrowing needs no person: a tool the finished run showed drifting is demoted at once
        # (promotion stays a person's act; handrail/trust/auto_demotion.py says why).
        demotion = AutoDemotion(
            self.catalog, ledger, ToolFacts.from_registry(self.registry, self.registry.names)
        )
        recorder = RunRecorder(ledger, observers=[telemetry.task_metrics().observe, demotion])
        activities: list[Callable[..., Any]] = [
            decide.decide,
            profile_loader.load_profile,
            notifier.notify_reviewers,
            recorder.record_run,
            *ToolActivities(
                self.registry, journal, faults, limits=SharedLimits(self.state)
            ).activities(),
            *mcp_activities,
            *extra_activities,
        ]
        super().__init__(
            PLUGIN_NAME,
            data_converter=with_pydantic,
            activities=activities,
            workflows=[AgentWorkflow],
            workflow_runner=pass_workflow_modules_through,
            interceptors=telemetry.worker_interceptors(),
            run_context=self._worker_resources,
        )

    @contextlib.asynccontextmanager
    async def _worker_resources(self) -> AsyncIterator[None]:
        """For a worker's life: the state schema upgraded and the registered tools declared
        in it before it polls; the tools' resources, the webhook client and the state pool
        closed when it stops."""
        await self.state.ready()
        async with contextlib.AsyncExitStack() as closing:  # each closes, newest first
            closing.push_async_callback(self.state.aclose)
            closing.push_async_callback(self._notifier.aclose)
            for close in self._on_worker_stop:
                closing.push_async_callback(close)
            await DeclaredTools(self.state).declare(declared_tools(self.registry))
            yield

    @contextlib.asynccontextmanager
    async def run_replayer(
        self,
        replayer: Replayer,
        histories: AsyncIterator[WorkflowHistory],
        next: Callable[
            [Replayer, AsyncIterator[WorkflowHistory]],
            AbstractAsyncContextManager[AsyncIterator[WorkflowReplayResult]],
        ],
    ) -> AsyncIterator[AsyncIterator[WorkflowReplayResult]]:
        """Replaying runs workflow code only: none of a worker's resources (``SimplePlugin``
        would wrap the replay in ``run_context`` too, which migrates the state database and
        declares the tools in it). A replay checks recorded runs, often far from production:
        it must write nothing anywhere."""
        async with next(replayer, histories) as results:
            yield results
