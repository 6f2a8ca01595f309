"""The trust simulation benchmark runs end to end on a small world (60 tasks, the operator
every 10): every task ends, the tables have their rows, and the promotions applied by the
operator went through the real ``promote`` path into the state database. The targets are the
full run's business (``python -m benchmarks.trust_sim``), never asserted here."""

from __future__ import annotations

from pathlib import Path

from benchmarks.trust_plots import draw
from benchmarks.trust_sim import Run, report, simulate
from benchmarks.trust_world import TOOLS


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
