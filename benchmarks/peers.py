"""Peers on the same task: pydantic-ai's Temporal integration and Temporal's integrations of the
OpenAI Agents SDK, LangGraph, Strands Agents and Google ADK, each driving the same tool against
the same scripted Chat Completions server.

Each peer runs as a real Temporal workflow on the benchmark's dev server, through its own client
(each integration brings its own plugin and data converter) and its own worker, on its own task
queue. The worker is in this process, except for Strands and Google ADK, whose pins conflict
with the core's: each runs from a venv of its own, made on demand, as a subprocess
(``benchmarks/peer_venvs.py``); ``peer_starters.py`` starts each. The model is the shared
scripted server (``bench.model``): a run scripts N calls of ``lookup_price`` and then a text
answer. The tool does Handrail's ``lookup_price``
work (``benchmarks/peer_apps/common.py``). Per run we record wall time per step (total / N)
and the run's history: the sum of ``event.ByteSize()`` over ``fetch_history()``, and its events.

Steps: 10 in ``--quick``; 10, 100, 500 and 1,000 in a full run. Each run is bounded
(``RUN_BOUND``) and each peer too (``PEER_BUDGET``): a peer whose run fails (the server's 50 MiB
history limit, a payload limit) gets a row saying where it died and why, with the numbers over
the steps it completed; a run past the bound is terminated and says so (a peer that crawls). A
larger run follows the same path to the same end, so once a peer has died or been cut off, its
larger N are not run; their rows say why and carry ``nan``. A note also gives the run's events,
total size, and the ms per step of its last ten steps (from the history's timestamps), which
shows the crawl: each peer re-sends the whole conversation through history at every step.

Metrics: ``"{peer} ms/step @{N}"`` (ms), ``"{peer} history bytes/step @{N}"`` (bytes) and
``"{peer} actions/step @{N}"`` (Temporal Cloud billable actions per step, counted from the run's
history by ``benchmarks/billing.py``, with the floor's as the floor column), for the peers
``pydantic-ai``, ``openai-agents``, ``langgraph``, ``strands`` and ``google-adk``, and for
Handrail and the floor run here on the same task up to 100 steps.

Versions (the ``bench`` extra; they coexist with openai 3.54 and temporalio 1.35, ``pip check``
clean):

- ``pydantic-ai-slim[openai,temporal]==2.68.0``. ``TemporalAgent`` is deprecated in 2.68 in
  favour of the ``TemporalDurability`` capability on a plain ``Agent``, which records the same
  activities and payloads; the benchmark uses the capability (``peer_apps/pydantic_ai_app.py``)
  with its defaults (no ``continue_as_new`` handler: that is opt-in).
- ``temporalio-openai-agents==1.1.0`` with ``openai-agents==0.22.3`` (it pins ``<0.23``; the
  newest openai-agents, 0.24, cannot be used with it). In temporalio 1.35
  ``temporalio.contrib.openai_agents`` only forwards to this standalone package.
- ``temporalio-langgraph==0.1.0`` with ``langgraph==1.2.22`` (``peer_apps/langgraph_app.py``).

In venvs of their own (``STRANDS``, ``GOOGLE_ADK`` below), each with ``temporalio==1.35.0``:

- ``temporalio-strands-agents==0.1.0`` (pins ``mcp < 2``) with ``strands-agents[openai]==1.62.0``
  (``peer_apps/strands_worker.py``: Strands' own ``OpenAIModel``, not streaming).
- ``temporalio-google-adk==0.0.1`` with ``google-adk==2.13.0`` (pins ``opentelemetry-sdk <=
  1.44``) and ``litellm==1.110.2``, ADK's way to a Chat Completions endpoint
  (``peer_apps/adk_worker.py``).

Measured numbers and where each peer dies: docs/benchmarks.md.

Only 127.0.0.1 is contacted: the dev server and the scripted model. The OpenAI Agents SDK's
trace export (to api.openai.com) is switched off by emptying its trace processors.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle

from benchmarks.billing import billable_actions, describe
from benchmarks.harness import BenchEnv, Row
from benchmarks.history_growth import TaskRun, floor_task, handrail_task

# Re-exported: benchmarks/frameworks.py measures the same peers.
from benchmarks.peer_starters import PEERS as PEERS
from benchmarks.peer_starters import PeerApp as PeerApp
from benchmarks.peer_venvs import PeerUnavailableError
from handrail.testing.scripted_model import Reply, Scenario, TextReply, ToolCallReply

NOT_INSTALLED = "not installed: pip install -e '.[bench]'"
QUICK_STEPS = (10,)
FULL_STEPS = (10, 100, 500, 1000)
# Seconds for one run (PEER_BUDGET still caps the peer): on a busy 2-core machine the OpenAI Agents
# integration needs ~3 minutes to reach the history limit in its 500-step run.
RUN_BOUND = 240.0
PEER_BUDGET = 150.0  # seconds for each peer in a full run (its runs share it)
FULL_REPEATS = 3  # runs at 10 steps in a full run (median); one run above
WARM_UP_STEPS = 2
TAIL = 10


@dataclass
class Outcome:
    steps: int  # scripted
    done: int  # tool steps completed
    seconds: float
    history_bytes: int
    events: int
    tail_ms: float | None  # ms per step over the last TAIL steps, from the history's clock
    failure: str | None = None  # why the run ended early
    timed_out: bool = False
    actions: int = 0  # Temporal Cloud billable actions in the run's history (billing.py)

    @property
    def ms_per_step(self) -> float:
        return 1000 * self.seconds / max(self.done, 1)

    @property
    def bytes_per_step(self) -> float:
        return self.history_bytes / max(self.done, 1)

    @property
    def actions_per_step(self) -> float:
        return self.actions / max(self.done, 1)


def _script(steps: int) -> list[Reply]:
    call = ToolCallReply("lookup_price", {"product": "Headlamp"})
    return [*([call] * steps), TextReply("The Headlamp costs 24.00 EUR.")]


def _reason(error: BaseException) -> str:
    """The innermost cause's message: the server's or the worker's own words."""
    while error.__cause__ is not None:
        error = error.__cause__
    text = str(error) or type(error).__name__
    return " ".join(text.split())[:160]


@dataclass
class _History:
    size: int
    events: int
    done: int  # tool activities completed
    tail_ms: float | None
    task_failure: str  # the last workflow task failure's message, if any
    actions: int


async def _history(app: PeerApp, handle: WorkflowHandle[object, str]) -> _History:
    history = await handle.fetch_history()
    size = sum(event.ByteSize() for event in history.events)
    tools: set[int] = set()
    completed: list[float] = []  # when each tool step completed (server clock, seconds)
    task_failure = ""
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if app.is_tool_activity(name):
                tools.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            if event.activity_task_completed_event_attributes.scheduled_event_id in tools:
                completed.append(event.event_time.ToMicroseconds() / 1e6)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event.workflow_task_failed_event_attributes.failure
            task_failure = " ".join(failure.message.split())[:160]
    tail_ms = None
    if len(completed) > TAIL:
        tail_ms = 1000 * (completed[-1] - completed[-1 - TAIL]) / TAIL
    return _History(
        size, len(history.events), len(completed), tail_ms, task_failure, billable_actions(history)
    )


async def run_once(bench: BenchEnv, app: PeerApp, steps: int, bound: float) -> Outcome:
    from benchmarks.peer_apps.common import PeerTask

    marker = f"peer-{uuid.uuid4().hex[:12]}"
    bench.model.route(marker, Scenario(_script(steps)))
    failure: str | None = None
    timed_out = False
    try:
        started = time.monotonic()
        handle: WorkflowHandle[object, str] = await app.client.start_workflow(
            app.workflow,
            PeerTask(
                prompt=f"{marker} How much is the Headlamp?", steps=steps, store_db=app.store_db
            ),
            id=marker,
            task_queue=app.task_queue,
            result_type=str,
        )
        try:
            await asyncio.wait_for(handle.result(), timeout=bound)
        except TimeoutError:
            failure, timed_out = f"gave up after {bound:.0f} s", True
            with suppress(Exception):
                await handle.terminate("benchmark time bound")
        except WorkflowFailureError as error:
            failure = _reason(error)
        seconds = time.monotonic() - started
    finally:
        bench.model.unroute(marker)
    found = await _history(app, handle)
    if failure is not None and found.task_failure:
        failure += f"; last workflow task failure: {found.task_failure}"
    return Outcome(
        steps,
        found.done,
        seconds,
        found.size,
        found.events,
        found.tail_ms,
        failure,
        timed_out,
        found.actions,
    )


def _rows(peer: str, steps: int, outcomes: list[Outcome], floor_actions: float | None) -> list[Row]:
    last = outcomes[-1]
    ms = statistics.median(o.ms_per_step for o in outcomes)
    per_step = statistics.median(o.bytes_per_step for o in outcomes)
    actions = statistics.median(o.actions_per_step for o in outcomes)
    size = f"{last.events:,} events, {last.history_bytes / 1024:,.0f} KiB"
    tail = f"; last {TAIL} steps {last.tail_ms:,.0f} ms/step" if last.tail_ms else ""
    if last.failure is None:
        runs = f"median of {len(outcomes)} runs; " if len(outcomes) > 1 else ""
        note = f"{runs}{size} per run{tail}"
    elif last.timed_out:
        note = (
            f"{last.failure} at {last.done} of {steps} steps ({size}{tail}); "
            f"value over the {last.done} steps done"
        )
    else:
        note = (
            f"died at {last.done} of {steps} steps: {last.failure} ({size}{tail}); "
            f"value over the {last.done} steps done"
        )
    return [
        Row(benchmark="peers", metric=f"{peer} ms/step @{steps}", value=ms, unit="ms", note=note),
        Row(
            benchmark="peers",
            metric=f"{peer} history bytes/step @{steps}",
            value=per_step,
            unit="bytes",
            note=note,
        ),
        Row(
            benchmark="peers",
            metric=f"{peer} actions/step @{steps}",
            value=actions,
            unit="actions",
            floor=floor_actions,
            note=note,
        ),
    ]


METRICS = (("ms/step", "ms"), ("history bytes/step", "bytes"), ("actions/step", "actions"))


def _skipped(peer: str, steps: int, why: str) -> list[Row]:
    return [
        Row(
            benchmark="peers",
            metric=f"{peer} {metric} @{steps}",
            value=float("nan"),
            unit=unit,
            note=why,
        )
        for metric, unit in METRICS
    ]


async def _measure(
    bench: BenchEnv, peer: str, app: PeerApp, deadline: float, floor_actions: dict[int, float]
) -> list[Row]:
    rows: list[Row] = []
    await run_once(bench, app, WARM_UP_STEPS, RUN_BOUND)  # worker caches, imports, connections
    ended: str | None = None  # why larger runs are not worth running
    for steps in _steps(bench):
        if ended is not None:
            rows += _skipped(peer, steps, ended)
            continue
        repeats = FULL_REPEATS if steps == 10 and not bench.quick else 1
        outcomes: list[Outcome] = []
        for _ in range(repeats):
            left = deadline - time.monotonic()
            if left < 5:
                break
            outcomes.append(await run_once(bench, app, steps, min(RUN_BOUND, left)))
            if outcomes[-1].failure is not None:
                break
        if not outcomes:
            ended = "not run: out of the benchmark's time budget"
            rows += _skipped(peer, steps, ended)
            continue
        rows += _rows(peer, steps, outcomes, floor_actions.get(steps))
        last = outcomes[-1]
        # A larger run follows the same path to the same end: it would die (or be cut off) at
        # the same step, only later in the budget.
        if last.timed_out:
            ended = f"not run: the {steps}-step run was cut off at {last.done} steps"
        elif last.failure is not None:
            ended = f"not run: died at {last.done} steps in the {steps}-step run"
    return rows


def _steps(bench: BenchEnv) -> tuple[int, ...]:
    return QUICK_STEPS if bench.quick else FULL_STEPS


async def _neighbour_rows(bench: BenchEnv) -> tuple[list[Row], dict[int, float]]:
    """Handrail and the floor on the same task in the same run, so the peers' rows have
    neighbours measured under the same load (up to 100 steps: past that the peers die anyway).
    Also the floor's actions per step by step count, the floor column of every actions row."""
    rows: list[Row] = []
    floor_actions: dict[int, float] = {}
    for steps in (n for n in _steps(bench) if n <= 100):
        repeats = FULL_REPEATS if steps == 10 and not bench.quick else 1
        runs = [await handrail_task(bench, steps) for _ in range(repeats)]
        floor = await floor_task(bench, steps)
        floor_actions[steps] = floor.action_total / steps
        rows += _neighbour(bench, "handrail", steps, runs, floor_actions[steps])
        rows += _neighbour(bench, "floor", steps, [floor], None)
    return rows, floor_actions


def _neighbour(
    bench: BenchEnv, name: str, steps: int, runs: list[TaskRun], floor_actions: float | None
) -> list[Row]:
    first = runs[0]
    seconds = statistics.median(run.seconds for run in runs)
    median_of = f"median of {len(runs)} runs; " if len(runs) > 1 else ""
    note = f"{median_of}{first.events} events"
    return [
        Row("peers", f"{name} ms/step @{steps}", seconds * 1000 / steps, "ms", note=note),
        Row(
            "peers",
            f"{name} history bytes/step @{steps}",
            first.history_bytes / steps,
            "bytes",
            note=note,
        ),
        Row(
            "peers",
            f"{name} actions/step @{steps}",
            first.action_total / steps,
            "actions",
            floor=floor_actions,
            target="<= floor" if floor_actions is not None else "",
            note=describe(first.actions),
        ),
    ]


async def run(bench: BenchEnv) -> list[Row]:
    rows, floor_actions = await _neighbour_rows(bench)
    started = time.monotonic()
    for index, (peer, start) in enumerate(PEERS.items()):
        # Each peer gets its share of the time; what one leaves unused goes to the next.
        deadline = started + PEER_BUDGET * (index + 1)
        async with AsyncExitStack() as stack:
            try:
                app = await stack.enter_async_context(start(bench))
            except ImportError as error:
                note = f"{NOT_INSTALLED} (no module {error.name or error})"
                for steps in _steps(bench):
                    rows += _skipped(peer, steps, note)
                continue
            except PeerUnavailableError as error:
                for steps in _steps(bench):
                    rows += _skipped(peer, steps, f"not measured: {error}")
                continue
            rows += await _measure(bench, peer, app, deadline, floor_actions)
    return rows
