"""The trust simulation benchmark runs end to end on a small world (60 tasks, the operator
every 10): every task ends, the tables have their rows, and the promotions applied by the
operator went through the real ``promote`` path into the state database. The targets are the
full run's business (``python -m benchmarks.trust_sim``), never asserted here."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from benchmarks import trust_demotion
from benchmarks.trust_plots import draw
from benchmarks.trust_sim import Run, report, simulate
from benchmarks.trust_world import REQUESTED, TOOLS, context_of, plan_task, profile_text


async def test_a_small_run_completes_and_reports(tmp_path: Path) -> None:
    run = await simulate(
        Run(tasks=60, seed=3, check_every=10, review_sample=0.3), tmp_path, progress=False
    )
    assert len(run.outcomes) == 60
    assert {o.tool for o in run.outcomes} == set(TOOLS)
    assert all(o.how for o in run.outcomes)
    # 60 tasks at 2% errors: the operator promotes at least one tool off 'suggest'.
    assert any(c.direction == "promote" for c in run.changes)
    text, _met = report(run)
    for phase in ("earn", "drift", "after"):
        for tool in (*TOOLS, "all"):
            assert f"| {phase} | {tool} |" in text
    assert "| issue_refund | suggest |" in text
    assert "Promotions and demotions" in text
    assert "Targets:" in text
    charts = draw(run.outcomes, run.changes, tmp_path / "img", drift_start=run.drift_start)
    assert [p.name for p in charts] == [
        "trust-timeline.svg",
        "trust-review-load.svg",
        "trust-bad-actions.svg",
    ]
    assert all(p.read_text().startswith("<svg") for p in charts)


# Slow (~20 s of the default run's ~12 min): the benchmark's end-to-end smoke stays in the default
# run above, and what --scope binds is checked without a run below.
@pytest.mark.slow
async def test_a_small_run_with_the_task_scope_bound_denies_out_of_scope_actions(
    tmp_path: Path,
) -> None:
    """``--scope``: every ticket's context names its order and requested amount (nothing for a
    question), and the credit tools are bound to them. Over 80 tasks (the discount at 25%
    errors from task 32) some bad action is denied by the binding, and no good one is: the
    requested amount and the model's compare equal as the same two-decimal text."""
    run = await simulate(
        Run(tasks=80, seed=3, check_every=10, review_sample=0.2, scope=True),
        tmp_path,
        progress=False,
    )
    assert len(run.outcomes) == 80
    assert any(o.bad is not None and o.how == "denied" for o in run.outcomes)
    assert not [o for o in run.outcomes if o.bad is None and o.gate == "deny"]
    text, _met = report(run)
    assert "task scope bound (order and amount)" in text
    assert "Targets:" in text


def test_the_scope_deployment_binds_what_the_ticket_names() -> None:
    plans = [plan_task(7, n, {"issue_refund": 0.5, "apply_discount": 0.5}) for n in range(60)]
    assert {p.bad for p in plans} >= {None, "needless", "wrong_amount", "wrong_order"}
    for plan in plans:
        assert context_of(plan, scope=False) == {"order_id": plan.order}
        scoped = context_of(plan, scope=True)
        if plan.bad == "needless":
            assert scoped == {}  # a question names no order: the binding denies any credit
        else:
            assert scoped == {"order_id": plan.order, REQUESTED: plan.right["amount"]}
    assert 'amount = "requested_amount"' in profile_text(0.2, scope=True)
    assert "amount =" not in profile_text(0.2)


def test_the_demotion_monte_carlo_runs_the_workers_rule() -> None:
    """``benchmarks.trust_demotion`` reads the same rule the worker applies: 2 troubles in the
    first 5 actions demote, 1 does not; a tool that never errs is never demoted, and one that
    always errs after the rise is demoted within its first actions after it."""
    demotes = trust_demotion.rule()
    assert demotes([True, True, False, False, False])
    assert not demotes([True, False, False, False, False])
    rng = random.Random(1)
    assert trust_demotion.demoted_at(demotes, 0.0, 0.0, rng) is None
    demoted = trust_demotion.demoted_at(demotes, 0.0, 1.0, rng)
    assert demoted is not None
    assert trust_demotion.DRIFT_AT < demoted <= trust_demotion.DRIFT_AT + 20
