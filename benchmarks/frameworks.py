"""The price of governance: the same store task run by each framework alone and by the same
framework under Handrail's governor, in one run.

Alone is the ``peers`` benchmark's app (``benchmarks/peer_apps/``): the framework's agent with
``lookup_price`` as its own tool activity. Governed is the framework's store example
(``examples/openai_agents_store``, ``examples/pydantic_ai_store``): the same framework and
model, its workflow hosting a ``Governor``, ``lookup_price`` proposed to it and run as
Handrail's tool (gate, journal, trace, ledger record). Both answer the same scripted model: N
``lookup_price`` calls, then a text answer.

Rows: ``{framework} ms/step @N``, ``history bytes/step @N`` and ``actions/step @N`` (Temporal
Cloud's billable actions, ``billing.py``), the governed run as
the value and the framework alone as the floor, so the ratio is what governance costs. Steps:
10 and 100 (median of 3 runs at 10); ``--quick``: 10, one run. Each run's worker is started
before the clock starts.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from temporalio.client import Client

from benchmarks.billing import billable_actions
from benchmarks.harness import BenchEnv, Row
from benchmarks.peers import NOT_INSTALLED, PEERS, RUN_BOUND, Outcome, PeerApp, run_once
from handrail.contracts import AgentTask, TaskResult
from handrail.testing.scripted_model import Scenario, TextReply, ToolCallReply

QUICK_STEPS = (10,)
FULL_STEPS = (10, 100)
FULL_REPEATS = 3  # runs at 10 steps in a full run (median)
ANSWER = "The Headlamp costs 24.00 EUR."
SURE = {"rationale": "the customer asked", "confidence": 0.95}


@dataclass
class GovernedApp:
    """A framework's store example under Handrail, its worker running."""

    client: Client
    task_queue: str
    workflow: str
    profile: str


@asynccontextmanager
async def _openai_agents(bench: BenchEnv) -> AsyncIterator[GovernedApp]:
    from openai import AsyncOpenAI

    from examples.openai_agents_store.worker import running_worker, with_openai_agents
    from examples.openai_agents_store.workflow import WORKFLOW

    settings = bench.settings("governed-openai-agents")
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    client = with_openai_agents(bench.client, model)
    try:
        async with running_worker(client, settings):
            yield GovernedApp(client, settings.task_queue, WORKFLOW, "openai_agents_bench")
    finally:
        await model.close()


@asynccontextmanager
async def _pydantic_ai(bench: BenchEnv) -> AsyncIterator[GovernedApp]:
    from examples.pydantic_ai_store.agent import WORKFLOW
    from examples.pydantic_ai_store.bench import PROFILE, PROFILES
    from examples.pydantic_ai_store.worker import running_worker, with_pydantic_ai

    settings = bench.settings("governed-pydantic-ai", profiles_dirs=[PROFILES])
    client = with_pydantic_ai(bench.client)
    async with running_worker(client, settings):
        yield GovernedApp(client, settings.task_queue, WORKFLOW, PROFILE)


GOVERNED: dict[str, Callable[[BenchEnv], AbstractAsyncContextManager[GovernedApp]]] = {
    "openai-agents": _openai_agents,
    "pydantic-ai": _pydantic_ai,
}


async def _run_governed(bench: BenchEnv, app: GovernedApp, steps: int) -> Outcome:
    marker = f"governed-{uuid.uuid4().hex[:10]}"
    lookup = ToolCallReply("lookup_price", {"product": "Headlamp", **SURE})
    bench.model.route(marker, Scenario([*([lookup] * steps), TextReply(ANSWER)]))
    try:
        started = time.monotonic()
        handle = await app.client.start_workflow(
            app.workflow,
            AgentTask(
                task_id=marker, goal=f"{marker} How much is the Headlamp?", profile=app.profile
            ),
            id=marker,
            task_queue=app.task_queue,
            result_type=TaskResult,
        )
        result = await handle.result()
        seconds = time.monotonic() - started
    finally:
        bench.model.unroute(marker)
    history = await handle.fetch_history()
    size = sum(event.ByteSize() for event in history.events)
    done = sum(1 for step in result.steps if step.decision.tool == "lookup_price" and step.outcome)
    failure = None if result.status == "answered" else f"{result.status}: {result.error}"
    return Outcome(
        steps,
        done,
        seconds,
        size,
        len(history.events),
        None,
        failure,
        actions=billable_actions(history),
    )


def _rows(framework: str, steps: int, governed: list[Outcome], alone: list[Outcome]) -> list[Row]:
    note = (
        f"median of {len(governed)} runs; governed {governed[-1].events:,} events, "
        f"alone {alone[-1].events:,} events"
    )
    failures = [o.failure for o in (*governed, *alone) if o.failure]
    if failures:
        note += f"; failed: {failures[0]}"

    def median(outcomes: list[Outcome], of: Callable[[Outcome], float]) -> float:
        return statistics.median(of(o) for o in outcomes)

    return [
        Row(
            "frameworks",
            f"{framework} {metric} @{steps}",
            median(governed, per_step),
            unit,
            floor=median(alone, per_step),
            note=note,
        )
        for metric, unit, per_step in _PER_STEP
    ]


_PER_STEP: tuple[tuple[str, str, Callable[[Outcome], float]], ...] = (
    ("ms/step", "ms", lambda o: o.ms_per_step),
    ("history bytes/step", "bytes", lambda o: o.bytes_per_step),
    ("actions/step", "actions", lambda o: o.actions_per_step),
)


async def _measure(
    bench: BenchEnv, framework: str, alone: PeerApp, governed: GovernedApp
) -> list[Row]:
    await run_once(bench, alone, 2, RUN_BOUND)  # warm up both: imports, caches, connections
    await _run_governed(bench, governed, 2)
    rows: list[Row] = []
    for steps in QUICK_STEPS if bench.quick else FULL_STEPS:
        repeats = FULL_REPEATS if steps == 10 and not bench.quick else 1
        alone_runs, governed_runs = [], []
        for _ in range(repeats):  # alternated, so both see the same load
            alone_runs.append(await run_once(bench, alone, steps, RUN_BOUND))
            governed_runs.append(await _run_governed(bench, governed, steps))
        rows += _rows(framework, steps, governed_runs, alone_runs)
    return rows


async def run(bench: BenchEnv) -> list[Row]:
    rows: list[Row] = []
    for framework, start_governed in GOVERNED.items():
        try:
            async with PEERS[framework](bench) as alone, start_governed(bench) as governed:
                rows += await _measure(bench, framework, alone, governed)
        except ImportError as error:
            note = f"{NOT_INSTALLED} (no module {error.name or error})"
            rows.append(Row("frameworks", f"{framework} ms/step", float("nan"), "ms", note=note))
    return rows
