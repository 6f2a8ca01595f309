"""A long task: 3,000 steps (``--quick``: 300) through a continue-as-new chain, three ways in one
run — the floor, Handrail with its state on SQLite, and Handrail with its state on PostgreSQL (a
throwaway cluster, ``handrail.testing.postgres``).

Each step is one model call and one ``lookup_price``; every chain continues as new at the same
threshold of events per run (2,000, as ``tests/workflows/test_long_task.py``), the floor
too, so that each run's history stays the same size and the per-step figures compare like with like.

Slow (about 15 minutes in full on 2 cores): not in the default list, ``--only long_task`` runs it.
Every ``BENCH_PROGRESS_SECONDS`` it prints which chain runs, its runs so far and the running
run's events, and this process's RSS (the workers run in it); stopped (``benchmarks.progress``),
it reports the chains it finished and how far the running one got.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra
import psycopg
from openai import AsyncOpenAI
from pydantic import SecretStr
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from benchmarks.floor import FloorActivities, floor_worker
from benchmarks.floor_workflow import FLOOR_WORKFLOW, FloorResult, FloorTask
from benchmarks.harness import BenchEnv, Row, run_lookups
from benchmarks.progress import progress_lines
from examples.store.settings import store_db_path
from handrail.testing.postgres import fresh_database, libpq_url, throwaway_postgres
from handrail.testing.scripted_model import Scenario, ToolCallReply

STEPS, QUICK_STEPS = 3_000, 300
# events per run before a chain continues as new (tests/workflows/test_long_task.py)
THRESHOLD = 2_000
# --quick: a lower threshold, so that 300 steps still cross several runs of the chain.
QUICK_THRESHOLD = 500


@dataclass(frozen=True)
class Chain:
    """One long task, measured: its wall time and every run of its continue-as-new chain."""

    seconds: float
    runs: list[list[HistoryEvent]]
    result_bytes: int

    @property
    def history_bytes(self) -> int:
        return sum(_size(run) for run in self.runs)

    @property
    def largest_run_events(self) -> int:
        return max(len(run) for run in self.runs)

    @property
    def largest_run_bytes(self) -> int:
        return max(_size(run) for run in self.runs)


@dataclass
class Progress:
    """Which chain runs now (its label and task queue) and the chains finished so far."""

    running: str = ""
    queue: str = ""
    began: float = field(default_factory=time.monotonic)
    done: dict[str, Chain] = field(default_factory=dict)

    def next(self, label: str, queue: str) -> None:
        self.running, self.queue, self.began = label, queue, time.monotonic()


def _describe(client: Client, progress: Progress) -> Callable[[], Awaitable[str]]:
    async def describe() -> str:
        rss = psutil.Process().memory_info().rss / 2**20
        where = f"{progress.running} chain, {time.monotonic() - progress.began:,.0f} s"
        if not progress.queue:
            return f"{where}; RSS {rss:,.0f} MiB (workers in this process)"
        runs = [r async for r in client.list_workflows(f"TaskQueue = '{progress.queue}'")]
        running = [r for r in runs if r.status is not None and r.status.name == "RUNNING"]
        events = ""
        if running:
            described = await client.get_workflow_handle(running[0].id).describe()
            events = f", running run at {described.history_length:,} events"
        return f"{where}: {len(runs)} runs so far{events}; RSS {rss:,.0f} MiB (workers here)"

    return describe


def _size(events: Sequence[HistoryEvent]) -> int:
    return sum(event.ByteSize() for event in events)


async def _chain(client: Client, workflow_id: str) -> list[list[HistoryEvent]]:
    """Every run of a finished chain, newest first, through each run's continued-from link."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(list(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return runs
        run_id = started.continued_execution_run_id


async def _handrail(
    bench: BenchEnv, steps: int, threshold: int, state_url: str | None, progress: Progress
) -> Chain:
    changes: dict[str, object] = {"continue_as_new_after_events": threshold}
    if state_url is not None:
        changes["state_url"] = SecretStr(state_url)
    settings = bench.settings("long", **changes)
    progress.next("SQLite" if state_url is None else "PostgreSQL", settings.task_queue)
    run = await run_lookups(bench, settings, steps)
    assert run.result.earlier_steps + len(run.result.steps) == steps + 1
    runs = await _chain(bench.client, run.handle.id)
    return Chain(run.seconds, runs, len(run.result.model_dump_json()))


async def _floor(bench: BenchEnv, steps: int, threshold: int, progress: Progress) -> Chain:
    settings = bench.settings("long-floor")
    progress.next("floor", settings.task_queue)
    model = AsyncOpenAI(base_url=bench.model.base_url, api_key="bench", max_retries=0)
    marker = f"floor-{uuid.uuid4().hex[:10]}"
    bench.model.route(marker, Scenario([ToolCallReply("lookup_price", {"product": "Headlamp"})]))
    task = FloorTask(marker=marker, steps=steps, continue_after_events=threshold)
    try:
        async with floor_worker(
            bench.client, settings.task_queue, FloorActivities(model, store_db_path(settings))
        ):
            started = time.monotonic()
            handle = await bench.client.start_workflow(
                FLOOR_WORKFLOW,
                task,
                id=marker,
                task_queue=settings.task_queue,
                result_type=FloorResult,
            )
            result = await handle.result()  # follows continue-as-new to the chain's last run
            seconds = time.monotonic() - started
        runs = await _chain(bench.client, handle.id)
    finally:
        bench.model.unroute(marker)
        await model.close()
    assert result.runs == len(runs), (result.runs, len(runs))
    return Chain(seconds, runs, len(result.model_dump_json()))


def _transactions(database_url: str) -> int:
    """Transactions committed in one PostgreSQL database so far (its statistics counter)."""
    with psycopg.connect(libpq_url(database_url)) as db:
        row = db.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def _rows(steps: int, threshold: int, backend: str, chain: Chain, floor: Chain) -> list[Row]:
    name = f"long task, state on {backend}"
    runs = f"{len(chain.runs)} runs (floor {len(floor.runs)})"
    return [
        Row(
            name,
            f"time/step @{steps}",
            1000 * chain.seconds / steps,
            "ms/step",
            floor=1000 * floor.seconds / steps,
            note=f"total/steps: {chain.seconds:.0f} s (floor {floor.seconds:.0f} s); {runs}",
        ),
        Row(
            name,
            f"history bytes/step @{steps}",
            chain.history_bytes / steps,
            "B",
            floor=floor.history_bytes / steps,
            note=f"every run of the chain; {runs}",
        ),
        Row(
            name,
            "largest run: events",
            chain.largest_run_events,
            "events",
            floor=floor.largest_run_events,
            target=f"< {threshold + 50:,} (threshold {threshold:,})",
            note=f"{chain.largest_run_bytes:,} B (floor {floor.largest_run_bytes:,} B)",
        ),
        Row(name, "runs in the chain", len(chain.runs), "runs", floor=len(floor.runs)),
        Row(
            name,
            "result size",
            chain.result_bytes,
            "B",
            target="< 512 KiB",
            # No ratio: the floor returns a step count, not the steps.
            note=f"the task's result as JSON (the floor's: {floor.result_bytes} B)",
        ),
    ]


def _so_far(steps: int, threshold: int, progress: Progress) -> list[Row]:
    """What a stopped run measured: each Handrail chain finished beside the floor's, and how
    far the running chain got."""
    rows: list[Row] = []
    floor = progress.done.get("floor")
    for backend in ("SQLite", "PostgreSQL"):
        chain = progress.done.get(backend)
        if chain is not None and floor is not None:
            rows += _rows(steps, threshold, backend, chain, floor)
    finished = ", ".join(f"{k} in {v.seconds:,.0f} s" for k, v in progress.done.items())
    rows.append(
        Row(
            "long task",
            "how far it got",
            len(progress.done),
            "chains",
            note=f"finished: {finished or 'none'}; stopped during the {progress.running} chain, "
            f"{time.monotonic() - progress.began:,.0f} s into it",
        )
    )
    return rows


async def run(bench: BenchEnv) -> list[Row]:
    steps = QUICK_STEPS if bench.quick else STEPS
    threshold = QUICK_THRESHOLD if bench.quick else THRESHOLD
    progress = Progress()
    bench.so_far = lambda: _so_far(steps, threshold, progress)
    async with progress_lines("long task", _describe(bench.client, progress)):
        with ExitStack() as stack:
            # The cluster first: a machine without PostgreSQL fails here, before a long floor run.
            progress.next("PostgreSQL set-up", "")
            server = stack.enter_context(throwaway_postgres())
            database = stack.enter_context(fresh_database(server, prefix="handrail_bench_"))
            floor = progress.done["floor"] = await _floor(bench, steps, threshold, progress)
            on_sqlite = await _handrail(bench, steps, threshold, None, progress)
            progress.done["SQLite"] = on_sqlite
            before = _transactions(database)
            on_postgres = await _handrail(bench, steps, threshold, database, progress)
            progress.done["PostgreSQL"] = on_postgres
            committed = _transactions(database) - before
    rows = [
        *_rows(steps, threshold, "SQLite", on_sqlite, floor),
        *_rows(steps, threshold, "PostgreSQL", on_postgres, floor),
    ]
    rows.append(
        Row(
            "long task, state on PostgreSQL",
            "PostgreSQL transactions/step",
            committed / steps,
            "xact",
            note="pg_stat_database.xact_commit over the run (schema upgrade included)",
        )
    )
    return rows
