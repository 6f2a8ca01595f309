"""``stats`` from the run ledger: rates, percentiles, tokens and cost, escalation and agreement
on known data; the three renderings; the CLI; and a ledger filled by real runs."""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from examples.store.clerk import StoreClerk
from examples.store.settings import PROFILES as STORE_PROFILES
from examples.store.worker import store_settings
from handrail.cli.stats import register
from handrail.client.core import HandrailClient
from handrail.errors import UserError
from handrail.profiles.catalog import ProfileCatalog
from handrail.reports.measures import percentile, percentiles
from handrail.reports.prices import DEFAULT_PRICES, Price, price_of
from handrail.reports.render_html import format_html
from handrail.reports.render_text import format_json, format_table
from handrail.reports.sections import build_view
from handrail.reports.stats import StatsReport, compute_stats
from handrail.settings import HandrailSettings
from handrail.storage.ledger import RunLedger, ledger_url
from handrail.testing.scripted_model import Scenario, ScriptedModelServer
from tests.ledger_factory import (
    T0,
    answer_step,
    escalate_step,
    refund_args,
    run,
    tool_step,
)
from tests.review_helpers import answer, refund, wait_for_pending

PRICES = {"gpt-4o-mini": Price(input=1.0, output=2.0)}


def _known(ledger: RunLedger) -> None:
    """Four tasks whose numbers are worked out by hand below."""
    ledger.write_many(
        [
            run(
                "t1",
                [
                    tool_step(0, "lookup_price", {"product": "Headlamp"}, tool_ms=2, decide_ms=100),
                    answer_step(1, decide_ms=300),
                ],
                profile="store_support",
            ),
            run(
                "t2",
                [
                    tool_step(0, "get_order", {"order_id": 1003}, tool_ms=4, decide_ms=200),
                    tool_step(
                        1,
                        "issue_refund",
                        refund_args("80.00"),
                        gate="review",
                        verdict="approve",
                        wait_s=30,
                        tool_ms=20,
                        decide_ms=400,
                    ),
                    answer_step(2, decide_ms=500),
                ],
            ),
            run(
                "t3",
                [
                    tool_step(
                        0,
                        "issue_refund",
                        refund_args("80.00"),
                        gate="review",
                        verdict="reject",
                        wait_s=90,
                        ok=None,
                        decide_ms=600,
                    )
                ],
                status="rejected",
            ),
            run(
                "t4",
                [
                    tool_step(0, "get_order", {"order_id": 9}, ok=False, tool_ms=6, decide_ms=700),
                    escalate_step(1, decide_ms=800),
                ],
                status="escalated",
                model="mystery-model",
                finished_at=T0 + timedelta(hours=1),
            ),
        ]
    )


@pytest.fixture
def ledger(tmp_path: Path) -> RunLedger:
    found = RunLedger(tmp_path / "ledger.db")
    _known(found)
    return found


def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # unsorted: percentiles sort
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentiles(values, 50, 95, 99) == pytest.approx((50.5, 95.05, 99.01))
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))
    for outside in (0, 100, 50.5):
        with pytest.raises(ValueError, match="whole numbers"):
            percentile(values, outside)


def test_prices_match_the_longest_known_model_name() -> None:
    assert price_of("gpt-4o-mini-2024-07-18", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o-mini"]
    assert price_of("gpt-4o-2024-08-06", DEFAULT_PRICES) == DEFAULT_PRICES["gpt-4o"]
    assert price_of("llama3.1", DEFAULT_PRICES) is None


def test_rates_by_action_and_outcome(ledger: RunLedger) -> None:
    report = compute_stats(ledger, prices=PRICES)
    assert report.tasks == 4
    assert report.statuses == {"answered": 2, "escalated": 1, "rejected": 1}
    assert report.answered_rate == 0.5
    actions = {row.action: row for row in report.actions}
    assert set(actions) == {"get_order", "issue_refund", "final_answer", "lookup_price", "escalate"}
    get_order = actions["get_order"]
    assert (get_order.steps, get_order.success_rate, get_order.failure_rate) == (2, 0.5, 0.5)
    refund_row = actions["issue_refund"]
    assert {k: v for k, v in refund_row.counts.items() if v} == {"approved": 1, "rejected": 1}
    assert refund_row.success_rate == 0.5  # approved counts as a success
    assert actions["final_answer"].counts["success"] == 2
    assert actions["escalate"].counts["escalated"] == 1
    assert report.actions[0].action in ("get_order", "issue_refund", "final_answer")  # most steps


def test_latency_percentiles_per_step_kind(ledger: RunLedger) -> None:
    latency = {row.kind: row for row in compute_stats(ledger).latency}
    assert next(iter(latency)) == "decide"
    decide = latency["decide"]  # 100, 200, ... 800 ms
    assert (decide.count, decide.p50_ms, decide.p95_ms, decide.max_ms) == (8, 450, 765, 800)
    assert latency["get_order"].p50_ms == 5
    assert latency["get_order"].p95_ms == pytest.approx(5.9)
    assert latency["issue_refund"].count == 1  # the rejected refund never ran
    assert set(latency) == {"decide", "get_order", "issue_refund", "lookup_price"}


def test_tokens_and_estimated_cost_per_task(ledger: RunLedger) -> None:
    cost = compute_stats(ledger, prices=PRICES).cost
    # t1: 1300 in + 70 out; t2: 1900 + 110; t3: 600 + 40; t4 (unpriced model): 1200 + 80.
    assert (cost.tasks, cost.tokens_in, cost.tokens_out) == (4, 5000, 300)
    assert cost.tokens_in_per_task == 1250
    assert cost.unpriced_tasks == 1
    assert cost.cost_usd == pytest.approx((1440 + 2120 + 680) / 1e6)
    assert cost.cost_per_task_usd == pytest.approx((1440 + 2120 + 680) / 3e6)
    by_model = {usage.model: usage for usage in cost.by_model}
    assert by_model["mystery-model"].cost_usd is None
    assert by_model["gpt-4o-mini"].tasks == 3


def test_escalation_rate_and_reviewer_agreement(ledger: RunLedger) -> None:
    report = compute_stats(ledger)
    escalation = report.escalation
    assert (escalation.needed_review, escalation.escalated) == (2, 1)
    assert (escalation.review_or_escalated, escalation.rate) == (3, 0.75)
    [refunds] = report.agreement
    assert (refunds.profile, refunds.tool) == ("store_actions", "issue_refund")
    verdicts = refunds.verdicts
    assert (verdicts.approved, verdicts.edited, verdicts.rejected, verdicts.reviews) == (1, 0, 1, 2)
    assert verdicts.agreement == 0.5
    assert (refunds.wait_p50_s, refunds.wait_p95_s) == (60, 87)


def test_since_counts_only_later_tasks(ledger: RunLedger) -> None:
    report = compute_stats(ledger, since=T0 + timedelta(minutes=30))
    assert report.tasks == 1
    assert report.statuses == {"escalated": 1}


def test_the_report_renders_as_table_json_and_html(ledger: RunLedger) -> None:
    profile = ProfileCatalog(STORE_PROFILES).load("store_actions")
    report = compute_stats(ledger, prices=PRICES, profile=profile)
    assert [a.advice for a in report.autonomy] == ["insufficient"] * len(profile.tools)
    assert report.recommendations == []

    table = format_table(report)
    for expected in ("4 task(s)", "Outcomes by action type", "issue_refund", "p95", "50.0%"):
        assert expected in table
    assert "No change recommended." in table

    again = StatsReport.model_validate_json(format_json(report))
    assert again.actions == report.actions
    assert json.loads(format_json(report))["recommendations"] == []

    page = format_html(report)
    assert page.startswith("<!doctype html>")
    assert page.count("<svg") == 3
    for external in ("<script", "http://", "https://", "src=", "<link"):
        assert external not in page


def test_the_terminal_and_the_page_show_one_view(ledger: RunLedger) -> None:
    profile = ProfileCatalog(STORE_PROFILES).load("store_actions")
    report = compute_stats(ledger, prices=PRICES, profile=profile)
    view = build_view(report)
    assert [s.key for s in view.sections] == [
        "statuses",
        "outcomes",
        "latency",
        "cost",
        "escalation",
        "commit",
        "agreement",
        "autonomy",
        "calibration",
    ]

    def words(text: str) -> str:  # the terminal wraps long lines
        return " ".join(text.split())

    text, page = words(format_table(report)), words(html.unescape(format_html(report)))
    for section in view.sections:
        shown = [section.title, *section.lines, *section.notes, *section.remarks]
        if section.table is not None:
            shown += section.table.headers
            shown += [cell for row in section.table.rows for cell in row]
        shown += [r.command for r in section.recommendations]
        for item in shown:
            assert words(item) in text, item
            assert words(item) in page, item
    assert text.index("Tasks by status") < text.index("Escalation") < text.index("Earned autonomy")
    assert page.index("Tasks by status") < page.index("Escalation") < page.index("Earned autonomy")


def test_html_escapes_what_it_shows(tmp_path: Path) -> None:
    ledger = RunLedger(tmp_path / "ledger.db")
    ledger.write_many([run("t<1>", [tool_step(0, "<b>tool</b>", {})])])
    page = format_html(compute_stats(ledger))
    assert "<b>tool</b>" not in page
    assert "&lt;b&gt;tool&lt;/b&gt;" in page


def test_an_empty_ledger_reports_nothing_yet(tmp_path: Path) -> None:
    report = compute_stats(RunLedger(tmp_path / "ledger.db"))
    assert report.tasks == 0
    # One view, two renderings: the page says what the terminal says (no empty chart).
    for shown in (format_table(report), format_html(report)):
        assert "No finished tasks recorded yet." in shown
        assert "No reviews recorded yet." in shown
        assert "Outcomes by action type" not in shown
    assert "<svg" not in format_html(report)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    return parser


async def test_the_stats_command_prints_a_table_and_writes_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = HandrailSettings(_env_file=None, data_dir=tmp_path / "data")
    _known(RunLedger(ledger_url(settings)))
    args = _parser().parse_args(["stats"])
    assert await args.handler(settings, args) == 0
    shown = capsys.readouterr().out
    assert "Handrail stats: 4 task(s)" in shown
    html_path = settings.data_dir / "stats.html"
    assert f"HTML report: {html_path}" in shown
    assert html_path.read_text().startswith("<!doctype html>")

    other = tmp_path / "report.html"
    args = _parser().parse_args(["stats", "--json", "--html", str(other), "--since", "2025-03-01"])
    assert await args.handler(settings, args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["tasks"] == 4
    assert str(other) in captured.err
    assert other.is_file()


# --- from real runs ------------------------------------------------------------------------


@pytest.mark.usefixtures("worker")
async def test_stats_from_a_ledger_filled_by_real_runs(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    model_server.brain = StoreClerk()
    questions = ["How much is the Headlamp?", "What is the status of order 1002?"]
    handles = [await handrail.start_task({"goal": q}) for q in questions]
    for handle in handles:
        assert (await handrail.get_result(handle.id)).status == "answered"

    model_server.brain = Scenario([refund(1003, "80.00"), answer("Refunded")])
    reviewed = await handrail.start_task({"goal": "Refund order 1003", "profile": "store_actions"})
    pending = await wait_for_pending(handrail, reviewed.id)
    await handrail.review(
        reviewed.id, {"reviewer": "alice", "step": pending.step, "verdict": "approve"}
    )
    assert (await handrail.get_result(reviewed.id)).status == "answered"

    ledger = RunLedger(ledger_url(settings))
    for _ in range(100):  # recorded before each result returns; allow a moment regardless
        if ledger.count() == 3:
            break
        await asyncio.sleep(0.05)
    profile = ProfileCatalog(settings.profile_folders).load("store_actions")
    report = compute_stats(ledger, profile=profile)

    assert report.tasks == 3
    assert report.statuses == {"answered": 3}
    actions = {row.action: row for row in report.actions}
    assert actions["lookup_price"].counts["success"] == 1
    assert actions["get_order"].counts["success"] == 1
    assert actions["issue_refund"].counts["approved"] == 1
    assert actions["final_answer"].counts["success"] == 3
    kinds = {row.kind for row in report.latency}
    assert {"decide", "lookup_price", "get_order", "issue_refund"} <= kinds
    assert all(row.p50_ms > 0 for row in report.latency)
    assert report.cost.tokens_in > 0
    assert report.escalation.needed_review == 1
    [agreement] = report.agreement
    assert (agreement.tool, agreement.verdicts.approved) == ("issue_refund", 1)
    refund_advice = next(a for a in report.autonomy if a.tool == "issue_refund")
    assert (refund_advice.advice, refund_advice.evidence.reviews) == ("insufficient", 1)
    assert {r.task_id for r in ledger.records()} == {h.id for h in handles} | {reviewed.id}


async def test_stats_assesses_every_profile_the_ledger_holds_unless_told_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = store_settings(HandrailSettings(_env_file=None, data_dir=tmp_path / "data"))
    _known(RunLedger(ledger_url(settings)))  # runs of store_support and store_actions

    args = _parser().parse_args(["stats"])
    assert await args.handler(settings, args) == 0
    shown = capsys.readouterr().out
    assert "Earned autonomy in profile store_actions" in shown
    assert "Earned autonomy in profile store_support" in shown
    html = (settings.data_dir / "stats.html").read_text()
    assert "Earned autonomy in profile store_actions" in html
    assert "Earned autonomy in profile store_support" in html

    args = _parser().parse_args(["stats", "--json", "--profile", "store_support"])
    assert await args.handler(settings, args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"] == "store_support"
    assert {a["profile"] for a in report["autonomy"]} == {"store_support"}


async def test_promote_names_the_profiles_when_the_tool_is_in_several(tmp_path: Path) -> None:
    settings = store_settings(HandrailSettings(_env_file=None, data_dir=tmp_path / "data"))
    args = _parser().parse_args(["promote", "get_order", "--as", "carol", "--why", "x"])
    with pytest.raises(UserError, match="in several profiles \\(store_actions, store_support\\)"):
        await args.handler(settings, args)
    args = _parser().parse_args(["promote", "fly_away", "--as", "carol", "--why", "x"])
    with pytest.raises(UserError, match="no profile enables 'fly_away'"):
        await args.handler(settings, args)
