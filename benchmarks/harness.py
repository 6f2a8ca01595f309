"""Shared benchmark plumbing: one dev server and one scripted model per run, results as rows.

Every benchmark measures Handrail beside a *floor* (bare Temporal doing the same work) in the
same run, on the same server and the same zero-latency scripted model, so that the framework's
own cost is what shows. Benchmarks print numbers; they are never timed tests.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from examples.store.database import create_store
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.worker import running_worker
from handrail import search_attributes
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.reports.measures import percentile as stats_percentile
from handrail.runtime.devserver import find_temporal_binary
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply


@dataclass
class Row:
    """One measured number, with the floor measured in the same run when there is one."""

    benchmark: str
    metric: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""
    note: str = ""
    partial: bool = False
    """Measured by a benchmark that was stopped before it finished (its note says how far)."""

    @property
    def ratio(self) -> float | None:
        if not self.floor or math.isnan(self.value) or math.isnan(self.floor):
            return None
        return self.value / self.floor


@dataclass
class BenchEnv:
    """What every benchmark gets: a Temporal client, the model server, a scratch folder."""

    env: WorkflowEnvironment
    model: ScriptedModelServer
    scratch: Path
    quick: bool
    extra: dict[str, Any] = field(default_factory=dict)
    so_far: Callable[[], list[Row]] | None = None
    """Set by a long benchmark: the rows it has measured so far, which the runner prints and
    writes (marked partial) if the benchmark is stopped (``benchmarks.progress``)."""

    @property
    def client(self) -> Client:
        return self.env.client

    @property
    def address(self) -> str:
        return self.env.client.service_client.config.target_host

    @property
    def profiles(self) -> Path:
        return self.scratch / "profiles"

    def settings(self, name: str, **changes: Any) -> HandrailSettings:
        """Settings for one measurement: its own task queue and data folder (store created)."""
        task_queue = f"bench-{name}-{uuid.uuid4().hex[:6]}"
        data_dir = self.scratch / task_queue
        settings = HandrailSettings(
            _env_file=None,
            temporal_address=self.address,
            task_queue=task_queue,
            data_dir=data_dir,
            openai_base_url=self.model.base_url,
            openai_api_key=SecretStr("bench"),
            embedded_server=False,
            profiles_dir=self.profiles,
            **changes,
        )
        create_store(store_db_path(settings))
        return settings


def _bench_profiles(target: Path) -> None:
    """The packaged profiles with budgets lifted, so long benchmark tasks are not cut short, and
    shared limits raised out of reach but kept (still checked on every action): thousands of
    benchmark refunds on one order would otherwise be refused after the second, and a refused
    refund is not the work being measured (everything else, rules and tiers included, as
    shipped)."""
    target.mkdir(parents=True, exist_ok=True)
    for source in STORE_PROFILES.glob("*.toml"):
        text = re.sub(r"(?m)^max_steps = \d+$", "max_steps = 5000", source.read_text())
        text = re.sub(r"(?m)^(max_tokens|max_duration_seconds) = .*$", "", text)
        text = re.sub(r"(?m)^shared_limit = \d+", "shared_limit = 100000000", text)
        (target / source.name).write_text(text)


@asynccontextmanager
async def bench_env(quick: bool) -> AsyncIterator[BenchEnv]:
    with tempfile.TemporaryDirectory(prefix="handrail-bench-") as scratch:
        _bench_profiles(Path(scratch) / "profiles")
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=str(find_temporal_binary()),
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
            dev_server_database_filename=str(Path(scratch) / "temporal.db"),
            # Above 10 MiB of history (the peers get there) the server warns on every event.
            dev_server_log_level="error",
        )
        try:
            with ScriptedModelServer() as model:
                yield BenchEnv(env, model, Path(scratch), quick)
        finally:
            await env.shutdown()


WHY = {"rationale": "benchmark", "confidence": 0.95}
"""What every scripted benchmark decision states (confident, so the policy lets reads run)."""


@dataclass(frozen=True)
class LookupRun:
    """One Handrail task of price lookups, as :func:`run_lookups` ran it."""

    handle: WorkflowHandle[Any, TaskResult]
    result: TaskResult
    seconds: float


async def run_lookups(bench: BenchEnv, settings: HandrailSettings, steps: int) -> LookupRun:
    """One Handrail task of ``steps`` ``lookup_price`` calls then a final answer, on its own
    worker for ``settings``; timed from start to result."""
    marker = f"lookups-{uuid.uuid4().hex[:10]}"
    lookup = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})
    final = ToolCallReply("final_answer", {"answer": "34.50 EUR", **WHY})
    bench.model.route(marker, Scenario([*([lookup] * steps), final]))
    handrail = HandrailClient(bench.client, settings)
    try:
        async with running_worker(bench.client, settings):
            started = time.monotonic()
            handle = await handrail.start_task({"goal": marker, "profile": "store_support"})
            result = await handrail.get_result(handle.id)
            seconds = time.monotonic() - started
    finally:
        bench.model.unroute(marker)
    assert result.status == "answered", result.status
    return LookupRun(handle, result, seconds)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile of unsorted ``values``, ``q`` in [0, 100] (``stats``'s)."""
    return stats_percentile(sorted(values), q)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def table(rows: Sequence[Row]) -> str:
    header = ("benchmark", "metric", "handrail", "floor", "ratio", "target", "note")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.benchmark,
                row.metric,
                _amount(row.value, row.unit),
                _amount(row.floor, row.unit) if row.floor is not None else "",
                f"{row.ratio:.2f}x" if row.ratio is not None else "",
                row.target,
                row.note,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    rendered = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    rendered.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in rendered)


def _amount(value: float, unit: str) -> str:
    return "not reached" if math.isnan(value) else f"{value:,.2f} {unit}"


def _json_number(value: Any) -> Any:
    """NaN (a figure a stopped benchmark never reached) as ``null``: JSON has no NaN."""
    return None if isinstance(value, float) and math.isnan(value) else value


def write_json(
    rows: Sequence[Row],
    path: Path,
    *,
    quick: bool,
    seconds: float,
    stopped: str | None = None,
    not_run: Sequence[str] = (),
) -> None:
    """The rows as JSON; ``stopped`` says why a run ended early (its last rows are partial)
    and ``not_run`` which benchmarks it never reached."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": machine(),
        "quick": quick,
        "seconds": round(seconds, 1),
        "complete": stopped is None,
        "stopped": stopped,
        "not_run": list(not_run),
        "rows": [
            {k: _json_number(v) for k, v in (asdict(row) | {"ratio": row.ratio}).items()}
            for row in rows
        ],
    }
    path.write_text(json.dumps(payload, indent=2))
