"""Load with faults: ``python -m tests.reliability_load [--tasks 1000] [--seed 7] [--unsafe X]``.

Runs N store tasks (questions, credits that run on their own, credits a reviewer decides,
credits above the deny limit, credits then a call for a manager) on its own embedded Temporal
server, against the scripted model with a seeded random mix of every model fault class, while
the tools' fault hook fails actions and compensations at random points (before the effect,
after it but before the journal write, after the journal write) and a scripted reviewer
approves or rejects what waits for review. Then ``tests.reliability_audit`` counts, from the
store, the effect journal, the ledger, the histories and the worker's logs, and it prints::

    1000 tasks, 0 lost, 0 doubled, 0 unreviewed risky actions, 0 leaked secrets

exiting non-zero unless every figure is zero. ``--unsafe idempotency`` (tools that ignore their
idempotency key) and ``--unsafe review`` (a profile whose review and deny limits are switched
off) break a safeguard on purpose: the audit must then count what slipped through.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from examples.store.clerk import StoreClerk
from examples.store.database import (
    StoreDatabase,
    create_store,
    order_items,
    orders,
    store_database,
)
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.settings import store_db_path
from examples.store.tools import store_compensations, store_tools
from examples.store.worker import store_settings
from handrail import HandrailPlugin, OpenAIChatModel, ToolContext, search_attributes
from handrail.cli.process_exit import exit_now
from handrail.client.core import HandrailClient
from handrail.errors import HandrailError
from handrail.profiles.catalog import ProfileCatalog
from handrail.runtime.devserver import find_temporal_binary
from handrail.runtime.worker import make_openai_client
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import (
    FAULT_KINDS,
    Fault,
    FaultMix,
    FaultSchedule,
    ScriptedModelServer,
)
from handrail.testing.secrets import SecretLogHandler
from handrail.tools import Tool
from handrail.tools.runner import FaultPoint
from tests.reliability_audit import Audit, audit

PROFILE = "store_actions"
FIRST_ORDER = 5000
UNSAFE = ("idempotency", "review")
# Each model request gets one of these with its rate (the rest: the model's own reply). A hang
# lasts past the model client's timeout (2 s below), so it is retried like a dead connection.
MODEL_FAULTS = {Fault(kind): 0.012 for kind in FAULT_KINDS if kind not in ("hang", "tool_loop")}
MODEL_FAULTS[Fault("hang", seconds=5)] = 0.004
MODEL_FAULTS[Fault("tool_loop")] = 0.004
TOOL_FAULT_RATE = 0.08  # per fault point of an action or compensation attempt


def goal(n: int, rng: random.Random) -> str:
    """Task ``n``'s goal, on its own order (each order was paid 400.00 EUR)."""
    order = FIRST_ORDER + n
    kind = rng.choice(["question", "auto", "auto", "review", "review", "deny", "manager"])
    ticket = f"(ticket #{n})"
    if kind == "question":
        return f"What is the status of order {order}? {ticket}"
    amount = {
        "auto": rng.randint(5, 40),
        "review": rng.randint(60, 190),
        "deny": rng.randint(520, 900),
        "manager": rng.randint(5, 40),
    }[kind]
    credit = rng.choice(["refund", "refund", "discount"]) if kind == "auto" else "refund"
    if credit == "discount":
        amount = rng.randint(2, 19)
    text = f"Please give a {credit} of {amount}.00 EUR on order {order} and email me {ticket}."
    return text + (" I also want a manager." if kind == "manager" else "")


def seed_orders(store: Path | str, count: int) -> None:
    """One order per task (400.00 EUR), so that tasks do not compete for one order's balance."""
    database = store_database(store)
    with database.sync_engine.begin() as db:
        db.execute(
            insert(orders),
            [
                {
                    "id": FIRST_ORDER + n,
                    "customer_id": 1 + n % 3,
                    "status": "delivered",
                    "currency": "EUR",
                    "created_at": "2026-11-01T10:00:00Z",
                }
                for n in range(count)
            ],
        )
        db.execute(
            insert(order_items),
            [
                {
                    "order_id": FIRST_ORDER + n,
                    "sku": "TENT-2P",
                    "quantity": 1,
                    "unit_price_cents": 40000,
                }
                for n in range(count)
            ],
        )


class ToolFaults:
    """The tools' fault hook: each point of each attempt of an action or compensation fails
    with ``rate``, seeded; ``after_effect`` overrides the rate where an action's effect has
    taken place but is not journaled yet (what idempotency keys are for)."""

    def __init__(self, seed: int, rate: float, after_effect: float | None = None) -> None:
        self.seed, self.rate = seed, rate
        self.after_effect = rate if after_effect is None else after_effect
        self.seen: dict[tuple[str, str, str], int] = {}
        self.struck = 0

    def __call__(self, point: FaultPoint, name: str, idempotency_key: str) -> None:
        count = self.seen.get((point, name, idempotency_key), 0)
        self.seen[(point, name, idempotency_key)] = count + 1
        rate = self.after_effect if point == "before_commit" else self.rate
        draw = random.Random(f"{self.seed}:{point}:{name}:{idempotency_key}:{count}").random()
        if draw < rate:
            self.struck += 1
            raise RuntimeError(f"injected tool fault {point} of {name}")


def careless(tools: Sequence[Tool]) -> list[Tool]:
    """``--unsafe idempotency``: tools that treat every attempt as a new action."""

    def wrap(declared: Tool) -> Tool:
        if declared.spec.read_only:
            return declared
        function = declared.function

        async def forgetful(args: Any, ctx: ToolContext) -> Any:
            fresh = ToolContext(
                task_id=ctx.task_id,
                step=ctx.step,
                idempotency_key=f"{ctx.idempotency_key}#{uuid.uuid4().hex[:6]}",
                attempt=ctx.attempt,
            )
            return await function(args, fresh)

        return Tool(declared.spec, forgetful)

    return [wrap(t) for t in tools]


def loosened_profiles(folder: Path) -> Path:
    """``--unsafe review``: the bundled profiles with review and deny limits switched off."""
    shutil.copytree(STORE_PROFILES, folder)
    profile = folder / f"{PROFILE}.toml"
    text = profile.read_text()
    for key in ("review_above", "deny_above", "task_limit"):
        text = "\n".join(
            f"{key} = 100000" if line.startswith(f"{key} =") else line for line in text.splitlines()
        )
    profile.write_text(text + "\n")
    return folder


class Reviewer:
    """Approves or rejects every pending review (seeded), through the ``review`` update."""

    def __init__(self, handrail: HandrailClient, seed: int) -> None:
        self.handrail, self.rng = handrail, random.Random(seed)
        self.decided = 0
        self.errors: Counter[str] = Counter()
        """What went wrong, by kind: a person would retry too, so the round goes on."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._round()
            except Exception as error:  # e.g. a task that ended between listing and query
                self.errors[type(error).__name__] += 1
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)

    async def _round(self) -> None:
        for task, pending in await self.handrail.pending_reviews():
            verdict = "approve" if self.rng.random() < 0.7 else "reject"
            try:
                await self.handrail.review(
                    task, {"reviewer": "alice", "step": pending.step, "verdict": verdict}
                )
                self.decided += 1
            except HandrailError:
                pass  # stale: the step moved on (a deadline, another decision)


@contextmanager
def watched_logs(secrets: Mapping[str, str]) -> Iterator[SecretLogHandler]:
    """Every log record of the run at INFO and above (a worker's level), scanned for secrets."""
    handler = SecretLogHandler(secrets)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


@asynccontextmanager
async def load_worker(
    client: Client, settings: HandrailSettings, faults: ToolFaults, unsafe: str | None
) -> AsyncIterator[Worker]:
    model_client = make_openai_client(settings)
    database = StoreDatabase(store_db_path(settings))
    tools = store_tools(database)
    plugin = HandrailPlugin(
        settings,
        tools=careless(tools) if unsafe == "idempotency" else tools,
        compensations=store_compensations(database),
        model=OpenAIChatModel(model_client),
        faults=faults,
        on_worker_stop=[database.aclose, model_client.close],
    )
    async with Worker(
        client, task_queue=settings.task_queue, plugins=[plugin], **settings.worker_options()
    ) as worker:
        yield worker


async def run_load(
    client: Client,
    model: ScriptedModelServer,
    scratch: Path,
    *,
    tasks: int,
    seed: int,
    unsafe: str | None = None,
    timeout: float = 1800,
) -> Audit:
    """Run ``tasks`` tasks with faults on ``client``'s server and audit what they left."""
    key = f"sk-load-{uuid.uuid4().hex}"
    queue = f"load-{uuid.uuid4().hex[:8]}"
    settings = store_settings(
        HandrailSettings(
            _env_file=None,
            task_queue=queue,
            data_dir=scratch,
            openai_api_key=key,
            openai_base_url=model.base_url,
            llm_timeout_seconds=2.0,
            profiles_dir=loosened_profiles(scratch / "profiles") if unsafe == "review" else None,
        )
    )
    create_store(store_db_path(settings))
    seed_orders(store_db_path(settings), tasks)
    rng = random.Random(seed)
    marker = "(ticket #"  # every load goal carries one
    schedule = FaultSchedule(StoreClerk(), mix=FaultMix(seed, MODEL_FAULTS))
    model.route(marker, schedule)
    # Careless tools: strike often where a retry would repeat an effect, and nowhere else
    # (compensations that cannot find their effect would otherwise retry for minutes).
    careless_run = unsafe == "idempotency"
    faults = ToolFaults(seed, 0 if careless_run else TOOL_FAULT_RATE, 0.3 if careless_run else None)
    handrail = HandrailClient(client, settings)
    stop = asyncio.Event()
    secrets = {"model key": key}
    with watched_logs(secrets) as logs:
        try:
            async with load_worker(client, settings, faults, unsafe):
                reviewer = Reviewer(handrail, seed)
                reviewing = asyncio.create_task(reviewer.run(stop))
                handles = [
                    await handrail.start_task({"goal": goal(n, rng), "profile": PROFILE})
                    for n in range(tasks)
                ]
                ids = [h.id for h in handles]
                await asyncio.wait_for(_ended(handrail, ids), timeout=timeout)
                stop.set()
                await reviewing
        finally:
            model.unroute(marker)
    print(
        f"injected: {len(schedule.injected)} model faults in {schedule.requests} requests, "
        f"{faults.struck} tool faults; {reviewer.decided} reviews decided"
        f" ({dict(reviewer.errors) or 'no'} reviewer errors)",
        flush=True,
    )
    policy = ProfileCatalog([STORE_PROFILES]).load(PROFILE)  # the policy of record
    return await audit(
        client,
        ids,
        state_url=settings.state_database_url,
        store_url=store_db_path(settings),
        policy=policy,
        secrets=secrets,
        data_dir=scratch,
        log_leaks=logs.leaks,
    )


async def _ended(handrail: HandrailClient, ids: Sequence[str]) -> None:
    async def one(task: str) -> None:
        with contextlib.suppress(HandrailError):  # a failed task has ended too: the audit reads how
            await handrail.get_result(task)

    await asyncio.gather(*(one(task) for task in ids))


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability_load", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--unsafe", choices=UNSAFE, help="switch a safeguard off on purpose")
    args = parser.parse_args(argv)
    began = time.monotonic()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(find_temporal_binary()),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    try:
        with ScriptedModelServer() as model, tempfile.TemporaryDirectory() as scratch:
            result = await run_load(
                env.client,
                model,
                Path(scratch),
                tasks=args.tasks,
                seed=args.seed,
                unsafe=args.unsafe,
            )
    finally:
        await env.shutdown()
    for problem in [
        *result.lost,
        *result.doubled,
        *result.uncompensated,
        *result.unreviewed,
        *result.leaks,
    ][:20]:
        print("  " + problem)
    print(f"endings: {dict(result.endings)}; {len(result.uncompensated)} left uncompensated")
    for message, count in result.failures.most_common(5):
        print(f"  failed x{count}: {message}")
    print(f"({time.monotonic() - began:.0f} s, seed {args.seed})")
    print(result.line())
    return 0 if result.clean else 1


if __name__ == "__main__":
    exit_now(asyncio.run(main(sys.argv[1:])))
