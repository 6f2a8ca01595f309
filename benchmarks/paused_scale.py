"""Paused-task scale: many tasks paused for review at once on one 2-core machine.

N tasks (quick: 30; full: 1,500, half again the workflow cache; ``BENCH_PAUSED_TASKS=10000``
for the issue's count, which takes most of an hour on these machines) of profile
``store_actions`` whose model proposes a refund of 80.00 on order 1003 (above the review
threshold, so each pauses), then answers. Reported:

- the time to start them (every start call returned) and until every one is paused (counted
  with the visibility query ``AwaitingReview = true`` on the benchmark's task queue);
- the worker's peak RSS, sampled with psutil every 0.2 s from before the first start to after
  the last finish. The worker runs alone in a subprocess (``python -m tests.crash_worker``, a
  plain Handrail worker from ``HANDRAIL_*`` variables), so the number is the worker's only. Its
  workflow cache is the SDK default, ``max_cached_workflows=1000``: that bound is what keeps
  memory flat as paused tasks pile up (the other paused tasks are evicted and replayed when
  their review arrives);
- the time from the first approval (the ``review`` update, 50 in flight) until every task has
  finished, and the tasks lost: not finished as ``answered``, or whose refund row is missing
  from the store's database.

The floor is ``benchmarks.floor_review.FloorReviewWorkflow`` (a model call, pause with the same
search attribute, on approval a write and a model call) in its own worker subprocess, with the
same N, the same cache default and the same measurements, in the same run.

Both workers run with bytecode caching on (``PYTHONPYCACHEPREFIX`` in the scratch folder), as an
installed worker would: with ``PYTHONDONTWRITEBYTECODE=1`` (set on these machines) the workflow
sandbox compiles ``workflows/agent.py`` from source for every new workflow instance and every
replay, about 7% of the worker's CPU in this benchmark.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra
from temporalio.client import Client

from benchmarks.floor_review import (
    FLOOR_REVIEW_WORKFLOW,
    REVIEW_UPDATE,
    FloorReviewTask,
)
from benchmarks.harness import BenchEnv, Row
from benchmarks.review_latency import APPROVE, REFUND, REPLIES, bounded_gather, room_for_refunds
from examples.store.settings import store_db_path
from handrail.client.core import HandrailClient
from handrail.testing.scripted_model import Scenario

ROOT = Path(__file__).resolve().parents[1]
QUICK_TASKS, FULL_TASKS = 30, 1500
CACHE = 1000  # the SDK's default max_cached_workflows, which both workers keep
IN_FLIGHT = 50  # starts and approvals sent at once
SAMPLE_SECONDS = 0.2
POLL_SECONDS = 0.25
RSS_TARGET_MIB = 300
_WAIT_LIMIT = 1800.0  # seconds, for any one phase


@dataclass
class Measured:
    started: float  # s until every start call returned
    paused: float  # s until every task is paused (from the first start)
    peak_rss: float  # MiB, the worker's peak over the whole run
    paused_rss: float  # MiB, the worker's RSS once every task is paused
    approved: float  # s from the first approval until every task finished
    finished: int  # tasks finished as they should
    lost: int


class RssSampler:
    """The peak resident set size of one process, sampled every ``SAMPLE_SECONDS``."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    def now(self) -> float:
        rss: int = self._process.memory_info().rss
        self.peak = max(self.peak, rss)
        return rss / 2**20

    async def _loop(self) -> None:
        while True:
            try:
                self.now()
            except psutil.NoSuchProcess:
                return
            await asyncio.sleep(SAMPLE_SECONDS)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._loop())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def peak_mib(self) -> float:
        return self.peak / 2**20


@asynccontextmanager
async def subprocess_worker(
    module: str, env: dict[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m module`` with ``env``, once it prints ``ready``; terminated on exit."""
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
            if line.strip() != b"ready":
                raise RuntimeError(f"{module} did not start: {_tail(log)}")
            yield process
        finally:
            if process.returncode is None:
                process.terminate()
                await process.wait()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


def _worker_env(bench: BenchEnv) -> dict[str, str]:
    """This process's environment without Handrail's and OpenAI's settings, with bytecode on."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HANDRAIL_", "OPENAI_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(bench.scratch / "pycache")
    return env


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def _until_count(client: Client, query: str, count: int) -> None:
    deadline = time.monotonic() + _WAIT_LIMIT
    while await _count(client, query) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} workflows match {query!r}")
        await asyncio.sleep(POLL_SECONDS)


async def _scale(
    client: Client,
    sampler: RssSampler,
    queue: str,
    count: int,
    start: Callable[[int], Awaitable[str]],
    approve: Callable[[str], Awaitable[object]],
    finished_query: str,
) -> Measured:
    on_queue = f"TaskQueue = '{queue}'"
    began = time.monotonic()
    ids = await bounded_gather(start, count, IN_FLIGHT)
    started = time.monotonic() - began
    await _until_count(client, f"{on_queue} AND AwaitingReview = true", count)
    paused = time.monotonic() - began
    paused_rss = sampler.now()

    async def one(task_id: str) -> str:
        await approve(task_id)
        return task_id

    began = time.monotonic()
    await bounded_gather(lambda i: one(ids[i]), count, IN_FLIGHT)
    await _until_count(client, f"{on_queue} AND ExecutionStatus != 'Running'", count)
    approved = time.monotonic() - began
    finished = await _count(client, f"{on_queue} AND {finished_query}")
    return Measured(
        started, paused, sampler.peak_mib, paused_rss, approved, finished, count - finished
    )


async def _handrail(bench: BenchEnv, count: int) -> Measured:
    settings = bench.settings("paused")
    room_for_refunds(store_db_path(settings), count + 10)
    marker = f"pscale-{uuid.uuid4().hex[:8]}"
    bench.model.route(marker, Scenario(REPLIES))
    handrail = HandrailClient(bench.client, settings)
    env = _worker_env(bench) | {
        "HANDRAIL_TEMPORAL_ADDRESS": bench.address,
        "HANDRAIL_TASK_QUEUE": settings.task_queue,
        "HANDRAIL_DATA_DIR": str(settings.data_dir),
        "HANDRAIL_PROFILES_DIR": str(bench.profiles),
        "HANDRAIL_EMBEDDED_SERVER": "false",
        "OPENAI_BASE_URL": bench.model.base_url,
        "OPENAI_API_KEY": "bench",
    }

    async def start(index: int) -> str:
        handle = await handrail.start_task(
            {
                "goal": f"{marker}-{index}: the tent of order 1003 arrived torn",
                "profile": "store_actions",
            }
        )
        return handle.id

    async def approve(task_id: str) -> object:
        return await handrail.review(task_id, APPROVE)

    try:
        log = settings.data_dir / "worker.log"
        async with subprocess_worker("tests.crash_worker", env, log) as process:
            with RssSampler(process.pid) as sampler:
                measured = await _scale(
                    bench.client,
                    sampler,
                    settings.task_queue,
                    count,
                    start,
                    approve,
                    "ExecutionStatus = 'Completed' AND HandrailStatus = 'answered'",
                )
    finally:
        bench.model.unroute(marker)
    with sqlite3.connect(store_db_path(settings)) as db:
        refunds = db.execute("SELECT COUNT(DISTINCT task_id) FROM refunds").fetchone()[0]
    measured.lost = max(measured.lost, count - refunds)
    return measured


async def _floor(bench: BenchEnv, count: int) -> Measured:
    settings = bench.settings("paused-floor")
    marker = f"pscalef-{uuid.uuid4().hex[:8]}"
    bench.model.route(marker, Scenario([REFUND]))
    env = _worker_env(bench) | {
        "FLOOR_ADDRESS": bench.address,
        "FLOOR_TASK_QUEUE": settings.task_queue,
        "FLOOR_STORE": str(store_db_path(settings)),
        "FLOOR_MODEL_URL": bench.model.base_url,
    }

    async def start(index: int) -> str:
        workflow_id = f"{marker}-{index}"
        await bench.client.start_workflow(
            FLOOR_REVIEW_WORKFLOW,
            FloorReviewTask(marker=workflow_id),
            id=workflow_id,
            task_queue=settings.task_queue,
        )
        return workflow_id

    async def approve(workflow_id: str) -> object:
        handle = bench.client.get_workflow_handle(workflow_id)
        return await handle.execute_update(REVIEW_UPDATE, "alice", result_type=str)

    try:
        log = settings.data_dir / "floor-worker.log"
        async with subprocess_worker("benchmarks.floor_review", env, log) as process:
            with RssSampler(process.pid) as sampler:
                measured = await _scale(
                    bench.client,
                    sampler,
                    settings.task_queue,
                    count,
                    start,
                    approve,
                    "ExecutionStatus = 'Completed'",
                )
    finally:
        bench.model.unroute(marker)
    with sqlite3.connect(store_db_path(settings)) as db:
        writes = db.execute("SELECT COUNT(DISTINCT marker) FROM floor_effects").fetchone()[0]
    measured.lost = max(measured.lost, count - writes)
    return measured


async def run(bench: BenchEnv) -> list[Row]:
    count = int(os.environ.get("BENCH_PAUSED_TASKS", QUICK_TASKS if bench.quick else FULL_TASKS))
    floor = await _floor(bench, count)
    mine = await _handrail(bench, count)
    bench.model.requests.clear()  # thousands of request bodies nobody reads after this
    name = "paused scale"
    note = f"{count:,} tasks, {IN_FLIGHT} starts/approvals in flight"
    return [
        Row(name, "start: all start calls returned", mine.started, "s", floor.started, note=note),
        Row(
            name,
            "start rate",
            count / mine.started,
            "tasks/s",
            count / floor.started,
            note=note,
        ),
        Row(name, "start: all paused for review", mine.paused, "s", floor.paused, note=note),
        Row(
            name,
            "worker peak RSS",
            mine.peak_rss,
            "MiB",
            floor.peak_rss,
            target=f"<= {RSS_TARGET_MIB} MiB",
            note=f"worker subprocess alone, sampled every 0.2 s; max_cached_workflows={CACHE:,} "
            "(SDK default)",
        ),
        Row(name, "worker RSS, all paused", mine.paused_rss, "MiB", floor.paused_rss, note=note),
        Row(
            name,
            "approve all -> all finished",
            mine.approved,
            "s",
            floor.approved,
            note=f"{note}; {max(0, count - CACHE):,} evicted from the cache, replayed on approval",
        ),
        Row(
            name,
            "tasks lost",
            mine.lost,
            "tasks",
            floor.lost,
            target="0",
            note=f"{mine.finished:,} of {count:,} answered, refund rows counted in the store",
        ),
    ]
