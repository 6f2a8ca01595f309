"""``python -m benchmarks.trust_sim [--tasks 1000] [--seed N]``: earned trust, measured.

Runs N store tasks, one after another, through the real workflow, policy, review desk and
worker on Temporal's time-skipping test server (review deadlines fire on its clock: a reviewer
slower than the support tier's hour hands the step to the managers, one slower than their day
lets it fail safe). The world (``benchmarks.trust_world``) is scripted and seeded: a model with
a known error rate per tool that rises mid-run, and reviewers with their own error rate and
response time. A scripted operator reads the ``stats`` recommendations every ``--check-every``
tasks, as a person would, and applies each with ``promote`` / ``demote``'s own code path
(``handrail.trust.promotion.apply_change``) into the state database the worker overlays. The
worker itself demotes a tool right after the run that shows the evidence
(``handrail.trust.auto_demotion``); those changes are read back from the audit log.

It prints, per phase and tool and per level in force, the review load, the bad actions stopped
and those that took effect, reviewer time and escalations; the promotions and demotions with
the task after which each happened; and a verdict on the targets (exit status 1 when one is
missed). ``--json`` writes every task's outcome; ``--plots DIR`` draws the charts
(``benchmarks.trust_plots``). ``--scope``: the same world, deployed with the task's scope
bound (each ticket's order and requested amount in its context, the credit tools' ``order_id``
and ``amount`` bound to them; ``benchmarks.trust_world.context_of``). Not in the default
benchmark list: it runs on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from benchmarks.trust_report import Change, Outcome, format_verdicts, tables, verdicts
from benchmarks.trust_world import (
    MANAGERS,
    PROFILE,
    START_LEVEL,
    SUPPORT,
    TOOLS,
    Phase,
    Plan,
    SimModel,
    context_of,
    phase_of,
    phases,
    plan_task,
    profile_text,
    review,
)
from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.tools import STORE_TOOL_SPECS
from examples.store.worker import running_worker
from handrail.client.core import HandrailClient
from handrail.contracts import TaskResult
from handrail.profiles.catalog import ProfileCatalog
from handrail.settings import HandrailSettings
from handrail.storage.autonomy_log import AutonomyLog
from handrail.storage.ledger import RunLedger
from handrail.testing.kit import time_skipping_server
from handrail.testing.scripted_model import ScriptedModelServer
from handrail.tools import ToolRegistry
from handrail.trust.auto_demotion import AUTOMATIC
from handrail.trust.autonomy import assess_profile, read_log
from handrail.trust.promotion import apply_change
from handrail.trust.tool_facts import ToolFacts

DRIFT_TOOL = "apply_discount"
POLL_S = 0.005


@dataclass
class Run:
    tasks: int
    seed: int
    check_every: int
    review_sample: float
    scope: bool = False
    outcomes: list[Outcome] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def drift_start(self) -> int:
        return phases(self.tasks)[1].start


def classify(result: TaskResult) -> tuple[str, str]:
    """(the gate's action, what became of the action) from the task's result."""
    step = result.steps[0]
    gate = step.gate.action if step.gate is not None else "none"
    if gate == "deny":
        return gate, "denied"
    if gate == "review":
        if step.review is None:
            return gate, "expired"
        how = {"approve": "approved", "edit": "edited"}.get(step.review.verdict, "rejected")
        if how == "edited":
            return gate, how
    else:
        how = "auto"
    if step.outcome is not None and not step.outcome.ok:
        return gate, "failed"
    if any(c.step == step.step and c.status == "undone" for c in result.compensations):
        return gate, "compensated"
    return gate, how


async def _one_task(
    env: WorkflowEnvironment, handrail: HandrailClient, run: Run, plan: Plan
) -> tuple[TaskResult, int, float, bool]:
    handle = await handrail.start_task(
        {"goal": plan.goal, "profile": PROFILE, "context": context_of(plan, scope=run.scope)}
    )
    reviews, minutes, escalated, attempt = 0, 0.0, False, 0
    while True:
        trace = await handrail.get_trace(handle.id)
        if trace.status not in ("running", "awaiting_review"):
            break
        pending = trace.pending_review
        if pending is None:
            await asyncio.sleep(POLL_S)
            continue
        reviewer = SUPPORT if pending.tier == "support" else MANAGERS
        decided = review(run.seed, plan, reviewer, attempt)
        attempt += 1
        # The reviewer answers after their response time, on the server's clock: a deadline
        # that passes meanwhile hands the step on (or fails it safe) before they get there.
        await env.sleep(timedelta(minutes=decided.response_min))
        now = (await handrail.get_trace(handle.id)).pending_review
        if now is None or (now.step, now.tier) != (pending.step, pending.tier):
            escalated = True
            continue
        decision: dict[str, object] = {
            "reviewer": reviewer.name,
            "step": pending.step,
            "verdict": decided.verdict,
        }
        if decided.arguments is not None:
            decision["arguments"] = decided.arguments
        await handrail.review(handle.id, decision)
        reviews += 1
        minutes += decided.handling_min
    return await handle.result(), reviews, minutes, escalated


def _operate(
    run: Run,
    task: int,
    catalog: ProfileCatalog,
    ledger: RunLedger,
    log: AutonomyLog,
    levels: dict[str, str],
    now: object,
) -> None:
    """The operator: reads the recommendations and applies each, as ``promote`` would."""
    facts = ToolFacts.from_registry(ToolRegistry(STORE_TOOL_SPECS), TOOLS)
    for found in assess_profile(ledger, catalog.load(PROFILE), log, tools=facts):
        if found.advice not in ("promote", "demote"):
            continue
        change = apply_change(
            catalog,
            PROFILE,
            found.tool,
            found.advice,
            "operator",
            found.reason,
            log=log,
            evidence=found.evidence,
            recommended=True,
            now=now,  # type: ignore[arg-type]
            expected=found.level,
        )
        levels[found.tool] = change.to_level
        run.changes.append(
            Change(task, found.tool, found.advice, change.from_level, change.to_level, found.reason)
        )


def _worker_changes(run: Run, task: int, log: AutonomyLog, levels: dict[str, str]) -> None:
    """The demotions the worker applied after the task just finished (from the audit log)."""
    seen = sum(1 for c in run.changes if c.by == AUTOMATIC)
    made = [c for c in read_log(log, profile=PROFILE) if c.who == AUTOMATIC][seen:]
    for change in made:
        levels[change.tool] = change.to_level
        reason = change.why.split(": ", 1)[-1]  # without "automatic, after task <id>"
        run.changes.append(
            Change(
                task,
                change.tool,
                change.direction,
                change.from_level,
                change.to_level,
                reason,
                AUTOMATIC,
            )
        )


async def simulate(run: Run, workdir: Path, *, progress: bool = True) -> Run:
    profiles = workdir / "profiles"
    profiles.mkdir(parents=True, exist_ok=True)
    (profiles / f"{PROFILE}.toml").write_text(profile_text(run.review_sample, scope=run.scope))
    all_phases: list[Phase] = phases(run.tasks, drift_tool=DRIFT_TOOL)
    model = SimModel()
    started = time.monotonic()
    async with time_skipping_server() as env:
        with ScriptedModelServer(model) as server:
            settings = HandrailSettings(
                _env_file=None,
                temporal_address=env.client.service_client.config.target_host,
                task_queue=f"trust-{uuid.uuid4().hex[:8]}",
                data_dir=workdir / "data",
                profiles_dir=profiles,
                openai_base_url=server.base_url,
                openai_api_key=SecretStr("x"),
                embedded_server=False,
            )
            create_store(store_db_path(settings))
            handrail = HandrailClient(env.client, settings)
            catalog = ProfileCatalog(settings.profile_folders)
            ledger = RunLedger(settings.state_database_url)
            log = AutonomyLog(ledger.database)
            levels = dict.fromkeys(TOOLS, START_LEVEL)
            async with running_worker(env.client, settings):
                for task in range(run.tasks):
                    phase = phase_of(all_phases, task)
                    plan = model.plans[task] = plan_task(run.seed, task, phase.error)
                    level = levels[plan.tool]
                    result, reviews, minutes, escalated = await _one_task(env, handrail, run, plan)
                    gate, how = classify(result)
                    run.outcomes.append(
                        Outcome(
                            task, phase.name, plan.tool, level, plan.bad, gate, how,
                            reviews, minutes, escalated,
                        )
                    )  # fmt: skip
                    _reset_store(store_db_path(settings))
                    _worker_changes(run, task + 1, log, levels)
                    if (task + 1) % run.check_every == 0:
                        now = await env.get_current_time()
                        await asyncio.to_thread(
                            _operate, run, task + 1, catalog, ledger, log, levels, now
                        )
                    if progress and (task + 1) % 100 == 0:
                        print(f"  {task + 1} tasks, {time.monotonic() - started:.0f} s", flush=True)
    run.seconds = time.monotonic() - started
    return run


def _reset_store(path: Path) -> None:
    # The world stays the same from task to task: credits of earlier tasks would otherwise use
    # up what the three orders can be credited, and the store would start refusing.
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM refunds")
        db.execute("DELETE FROM discounts")
    db.close()


def report(run: Run) -> tuple[str, bool]:
    found = verdicts(
        run.outcomes,
        run.changes,
        start_level=START_LEVEL,
        drift_tool=DRIFT_TOOL,
        drift_start=run.drift_start,
    )
    text = (
        f"trust simulation: {run.tasks} tasks, seed {run.seed}, operator every "
        f"{run.check_every} tasks, review_sample {run.review_sample}, "
        f"task scope {'bound (order and amount)' if run.scope else 'order only'}, "
        f"{run.seconds:.0f} s\n"
        f"phases: "
        + ", ".join(f"{p.name} from task {p.start} {p.error}" for p in phases(run.tasks))
        + "\n\n"
        + tables(run.outcomes, run.changes)
        + "\n\nTargets:\n\n"
        + format_verdicts(found)
    )
    return text, all(v.met for v in found if v.target)


def _load(path: Path) -> Run:
    """A run as ``--json`` wrote it (to redraw the tables and charts without rerunning)."""
    found = json.loads(path.read_text())
    given = found.get("run", {})
    run = Run(
        int(given.get("tasks", len(found["outcomes"]))),
        int(given.get("seed", 0)),
        int(given.get("check_every", 10)),
        float(given.get("review_sample", 0.0)),
        bool(given.get("scope", False)),
        [Outcome(**o) for o in found["outcomes"]],
        [Change(**c) for c in found["changes"]],
        float(given.get("seconds", 0.0)),
    )
    return run


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.trust_sim", description=__doc__)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--check-every", type=int, default=10, help="operator reads stats")
    parser.add_argument("--review-sample", type=float, default=0.2, help="at autonomous level")
    parser.add_argument(
        "--scope",
        action="store_true",
        help="bind order_id and amount to the ticket's context (off: the measured default)",
    )
    parser.add_argument("--json", type=Path, help="write every task's outcome here")
    parser.add_argument("--from-json", type=Path, help="report a run --json wrote; no rerun")
    parser.add_argument("--plots", type=Path, help="draw SVG charts into this folder")
    args = parser.parse_args(argv)
    if args.from_json:
        run = _load(args.from_json)
    else:
        run = Run(args.tasks, args.seed, args.check_every, args.review_sample, args.scope)
        with tempfile.TemporaryDirectory(prefix="trust-sim-") as workdir:
            await simulate(run, Path(workdir))
    text, met = report(run)
    print(text)
    if args.json:
        settings = {
            k: getattr(run, k) for k in ("tasks", "seed", "check_every", "review_sample", "scope")
        }
        args.json.write_text(
            json.dumps(
                {
                    "run": {**settings, "seconds": run.seconds},
                    "outcomes": [asdict(o) for o in run.outcomes],
                    "changes": [asdict(c) for c in run.changes],
                },
                indent=1,
            )
        )
    if args.plots:
        from benchmarks.trust_plots import draw

        stem = "trust-scope" if run.scope else "trust"  # the default run's charts stay as drawn
        for path in draw(
            run.outcomes, run.changes, args.plots, drift_start=run.drift_start, stem=stem
        ):
            print(f"chart: {path}")
    print("\nverdict: every target met" if met else "\nverdict: a target was missed (see above)")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
