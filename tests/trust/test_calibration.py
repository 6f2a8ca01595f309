"""Calibrated confidence: the binomial bound against known values, recommendations from seeded
ledgers with known answers, and the same through ``stats`` (table, JSON, HTML); token
log-probabilities recorded where the (scripted) endpoint returns them, ignored where it does
not, and an endpoint refusing them breaks nothing."""

from __future__ import annotations

import json
import math
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from examples.store.tools import STORE_TOOL_SPECS
from handrail.activities.llm import LlmActivities
from handrail.contracts import (
    DecideRequest,
    Decision,
    Opening,
    ReviewVerdict,
    RunRecord,
    TaskStatus,
)
from handrail.model.decision_parsing import logprob_confidence
from handrail.model.openai_chat import OpenAIChatModel
from handrail.profiles.catalog import ProfileFile
from handrail.reports.render_html import format_html
from handrail.reports.render_text import format_json, format_table
from handrail.reports.stats import compute_stats
from handrail.storage.conversations import ConversationStore
from handrail.storage.ledger import RunLedger
from handrail.testing.scripted_model import (
    ErrorReply,
    Reply,
    Scenario,
    ScriptedModelServer,
    ToolCallReply,
)
from handrail.tools import ToolRegistry
from handrail.trust.calibration import Reviewed, calibrate, calibrate_all, clopper_pearson_upper
from tests.ledger_factory import T0, refund_args, run, tool_step


@pytest.mark.parametrize(
    ("bad", "trials", "expected"),
    [
        # Beta(k + 1, n - k) quantiles at 0.95, as R's qbeta(0.95, k + 1, n - k) gives them.
        (1, 20, 0.2161062),
        (5, 100, 0.1022534),
        (3, 10, 0.6066242),
        (10, 1000, 0.0169032),
    ],
)
def test_clopper_pearson_matches_known_values(bad: int, trials: int, expected: float) -> None:
    assert clopper_pearson_upper(bad, trials) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("trials", [1, 20, 149, 300, 5000])
def test_no_bad_draw_has_the_closed_form(trials: int) -> None:
    # P(X = 0) = (1 - p)^n = 0.05  ⇔  p = 1 - 0.05^(1/n)
    assert clopper_pearson_upper(0, trials) == pytest.approx(1 - 0.05 ** (1 / trials), rel=1e-9)


def test_bound_edges_and_monotonicity() -> None:
    assert clopper_pearson_upper(0, 0) == 1.0
    assert clopper_pearson_upper(7, 7) == 1.0
    with pytest.raises(ValueError, match="must lie in"):
        clopper_pearson_upper(3, 2)
    bounds = [clopper_pearson_upper(k, 50) for k in range(51)]
    assert bounds == sorted(bounds)  # more bad draws, a higher bound
    assert all(k / 50 <= b for k, b in enumerate(bounds))  # never below the observed rate


def _reviews(
    rng: random.Random, count: int, low: float, high: float, bad_share: float
) -> list[tuple[float, bool]]:
    return [(round(rng.uniform(low, high), 2), rng.random() < bad_share) for _ in range(count)]


def test_confident_actions_always_approved_recommend_their_threshold() -> None:
    rng = random.Random(3)
    # 300 reviews at 0.90-0.99, all approved; below 0.9 a quarter are bad.
    samples = [(round(rng.choice([0.9, 0.93, 0.95, 0.99]), 2), False) for _ in range(300)]
    samples += _reviews(rng, 200, 0.3, 0.89, 0.25)
    found = calibrate("store_actions", "issue_refund", samples, target=0.02)
    assert found.recommended is not None
    assert found.recommended.threshold == 0.9
    assert (found.recommended.actions, found.recommended.bad) == (300, 0)
    assert found.recommended.upper_bound == pytest.approx(1 - 0.05 ** (1 / 300))
    assert found.reviews == 500
    assert found.coverage == pytest.approx(300 / 500)
    assert "0 bad of 300 reviewed at ≥ 0.90" in found.reason


def test_errors_spread_uniformly_leave_no_threshold() -> None:
    samples = _reviews(random.Random(5), 400, 0.5, 1.0, 0.1)
    found = calibrate("store_actions", "issue_refund", samples, target=0.02)
    assert found.recommended is None
    assert found.coverage is None
    assert found.reason.startswith("not enough evidence")
    assert "at least 149 clean reviews" in found.reason  # ceil(log 0.05 / log 0.98)
    assert found.strictest is not None
    assert found.strictest.threshold == max(s[0] for s in samples)


def test_too_few_clean_reviews_are_not_enough_evidence() -> None:
    # 100 approvals and no error: the point estimate is 0%, the bound 2.95% > 2%.
    found = calibrate("p", "t", [(0.95, False)] * 100, target=0.02)
    assert found.recommended is None
    assert found.strictest is not None
    assert found.strictest.upper_bound == pytest.approx(1 - 0.05 ** (1 / 100))
    # 149 of them reach it.
    assert calibrate("p", "t", [(0.95, False)] * 149, target=0.02).recommended is not None


def test_the_walk_stops_at_the_first_threshold_that_fails() -> None:
    # Clean at 0.99 (300), a bad cluster at 0.8 (10 of 20), clean again at 0.5 (5000): going
    # down from the top stops at 0.8, even though pooling everything would pass again.
    samples = [(0.99, False)] * 300 + [(0.8, True)] * 10 + [(0.8, False)] * 10
    samples += [(0.5, False)] * 5000
    found = calibrate("p", "t", samples, target=0.02)
    assert found.recommended is not None
    assert found.recommended.threshold == 0.99


def test_logprob_signal_compared_only_where_recorded() -> None:
    stated = [Reviewed("p", "t", 0.95, None, False) for _ in range(200)]
    both = [Reviewed("p", "u", 0.95, 0.99 if i % 2 else 0.7, False) for i in range(400)]
    found = calibrate_all([*stated, *both], target=0.02)
    assert [(c.tool, c.signal) for c in found] == [
        ("t", "stated"),
        ("u", "stated"),
        ("u", "logprob"),
    ]
    logprob = found[2]
    assert logprob.recommended is not None
    assert logprob.recommended.threshold == 0.7
    assert logprob.reviews == 400


def _seeded(
    confidences: list[tuple[float, ReviewVerdict]], tool: str, prefix: str
) -> list[RunRecord]:
    records = []
    for number, (confidence, verdict) in enumerate(confidences):
        at = T0 + timedelta(minutes=number)
        step = tool_step(
            0,
            tool,
            refund_args("80.00"),
            gate="review",
            verdict=verdict,
            ok=True if verdict == "approve" else None,
            at=at,
        )
        step.decision.confidence = confidence
        status: TaskStatus = "answered" if verdict == "approve" else "rejected"
        records.append(run(f"{prefix}-{number}", [step], status=status, finished_at=at))
    return records


def test_stats_recommends_from_a_seeded_ledger(tmp_path: Path) -> None:
    ledger = RunLedger(tmp_path / "handrail.db")
    rng = random.Random(11)
    confident: list[tuple[float, ReviewVerdict]] = [(0.92, "approve")] * 300
    confident += [(0.6, "reject" if rng.random() < 0.3 else "approve") for _ in range(60)]
    spread: list[tuple[float, ReviewVerdict]] = [
        (round(rng.uniform(0.5, 1.0), 2), "reject" if rng.random() < 0.1 else "approve")
        for _ in range(200)
    ]
    ledger.write_many(
        _seeded(confident, "issue_refund", "a") + _seeded(spread, "apply_discount", "b")
    )
    profile = ProfileFile.model_validate(
        {
            "name": "store_actions",
            "system_prompt": "x",
            "tools": ["issue_refund", "apply_discount"],
            "autonomy": {"target_error_rate": 0.02},
        }
    )
    report = compute_stats(ledger, profile=profile)
    by_tool = {c.tool: c for c in report.calibration}
    refund = by_tool["issue_refund"]
    assert refund.recommended is not None
    assert refund.recommended.threshold == 0.92
    assert refund.recommended.actions == 300
    assert refund.reviews == 360
    assert by_tool["apply_discount"].recommended is None

    text = format_table(report)
    assert "Calibrated confidence" in text
    assert "≤ 2.0%" in text
    [line] = [line for line in text.splitlines() if "issue_refund" in line and "stated" in line]
    assert line.split()[:6] == [
        "store_actions",
        "issue_refund",
        "stated",
        "360",
        str(refund.bad),
        "0.92",
    ]
    assert f"{1 - 0.05 ** (1 / 300):.1%}" in text  # the bound shown: 1.0%
    assert "apply_discount (stated): not enough evidence" in text
    data = json.loads(format_json(report))
    assert data["target_error_rate"] == 0.02
    assert data["calibration"][1]["recommended"]["actions"] == 300
    assert "Calibrated confidence" in format_html(report)


@pytest.mark.parametrize("value", [0, 1, -0.1, 2])
def test_target_error_rate_is_validated(value: float) -> None:
    with pytest.raises(ValueError, match=r"autonomy\.target_error_rate"):
        ProfileFile.model_validate(
            {"name": "p", "system_prompt": "x", "autonomy": {"target_error_rate": value}}
        )


def test_default_target_without_a_profile(tmp_path: Path) -> None:
    report = compute_stats(RunLedger(tmp_path / "handrail.db"))
    assert report.target_error_rate == 0.02
    assert report.calibration == []
    assert not math.isnan(report.target_error_rate)


# --- token log-probabilities, recorded beside the stated confidence ------------------------

WHY = {"rationale": "r", "confidence": 0.9}
LOOKUP = ToolCallReply("lookup_price", {"product": "Headlamp", **WHY}, logprobs=(-0.1, -0.3))


@pytest_asyncio.fixture
async def model_client(model_server: ScriptedModelServer) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=model_server.base_url, api_key="x", max_retries=0, timeout=5)
    try:
        yield client
    finally:
        await client.close()


async def _decide(model: OpenAIChatModel, tmp_path: Path) -> Decision:
    store = ConversationStore(tmp_path / f"state-{uuid.uuid4().hex}.db")
    request = DecideRequest(
        conversation_id="task-1/run-1",
        step=0,
        model="scripted",
        tools=["lookup_price"],
        opening=Opening(system_prompt="Be brief.", goal="Headlamp price?"),
    )
    try:
        activities = LlmActivities(model, store, ToolRegistry(STORE_TOOL_SPECS))
        return await ActivityEnvironment().run(activities.decide, request)
    finally:
        await store.aclose()


async def test_logprobs_recorded_when_the_endpoint_returns_them(
    model_server: ScriptedModelServer, model_client: AsyncOpenAI, tmp_path: Path
) -> None:
    model_server.brain = Scenario([LOOKUP])
    decision = await _decide(OpenAIChatModel(model_client, logprobs=True), tmp_path)
    assert model_server.requests[-1]["logprobs"] is True
    assert decision.confidence == 0.9  # the stated one, unchanged
    assert decision.logprob_confidence == pytest.approx(math.exp(-0.2))
    # Off by default: not asked for, not recorded.
    decision = await _decide(OpenAIChatModel(model_client), tmp_path)
    assert "logprobs" not in model_server.requests[-1]
    assert decision.logprob_confidence is None


async def test_logprobs_ignored_when_the_endpoint_sends_none(
    model_server: ScriptedModelServer, model_client: AsyncOpenAI, tmp_path: Path
) -> None:
    model_server.brain = Scenario([ToolCallReply("lookup_price", {"product": "Headlamp", **WHY})])
    decision = await _decide(OpenAIChatModel(model_client, logprobs=True), tmp_path)
    assert decision.kind == "tool_call"
    assert decision.logprob_confidence is None
    assert "logprob_confidence" not in decision.model_dump_json()  # nothing stored for it


async def test_an_endpoint_refusing_logprobs_does_not_break_the_task(
    model_server: ScriptedModelServer, model_client: AsyncOpenAI, tmp_path: Path
) -> None:
    def refuses(request: dict[str, Any]) -> Reply:
        if "logprobs" in request:
            return ErrorReply(400, message="logprobs is not supported by this model")
        return LOOKUP

    model_server.brain = refuses
    model = OpenAIChatModel(model_client, logprobs=True)
    before = len(model_server.requests)
    decision = await _decide(model, tmp_path)
    assert decision.kind == "tool_call"
    assert decision.logprob_confidence is None
    asked = [("logprobs" in r) for r in model_server.requests[before:]]
    assert asked == [True, False]
    assert model.logprobs is False  # and it stops asking
    await _decide(model, tmp_path)
    assert "logprobs" not in model_server.requests[-1]


async def test_another_bad_request_still_fails_as_before(
    model_server: ScriptedModelServer, model_client: AsyncOpenAI, tmp_path: Path
) -> None:
    model_server.brain = Scenario([ErrorReply(400, message="bad messages")])
    model = OpenAIChatModel(model_client, logprobs=True)
    with pytest.raises(ApplicationError) as raised:
        await _decide(model, tmp_path)
    assert raised.value.non_retryable
    assert "bad messages" in str(raised.value)


def test_only_usable_token_logprobs_count() -> None:
    def choice(*values: object) -> SimpleNamespace:
        tokens = [SimpleNamespace(logprob=value) for value in values]
        return SimpleNamespace(logprobs=SimpleNamespace(content=tokens))

    assert logprob_confidence(choice(-1.0, 0.0)) == pytest.approx(math.exp(-0.5))
    assert logprob_confidence(choice(-1.0, math.nan, math.inf, 0.5, True, "x", None)) == (
        pytest.approx(math.exp(-1.0))
    )
    assert logprob_confidence(choice()) is None
    assert logprob_confidence(SimpleNamespace(logprobs=None)) is None
    assert logprob_confidence(SimpleNamespace(logprobs=SimpleNamespace(content="x"))) is None


def test_stats_compares_stated_and_logprob_confidence(tmp_path: Path) -> None:
    seeded: list[tuple[float, ReviewVerdict]] = [(0.95, "approve")] * 200
    records = _seeded(seeded + [(0.95, "reject")] * 20, "issue_refund", "c")
    for number, record in enumerate(records):
        # The log-probabilities tell the bad ones apart; the stated confidence does not.
        bad = record.status == "rejected"
        record.steps[0].decision.logprob_confidence = 0.5 if bad else 0.9 + number / 10_000
    ledger = RunLedger(tmp_path / "handrail.db")
    ledger.write_many(records)
    report = compute_stats(ledger)
    stated, logprob = report.calibration
    assert (stated.signal, logprob.signal) == ("stated", "logprob")
    assert stated.recommended is None  # 20 bad of 220 at the only stated value
    assert logprob.recommended is not None
    assert logprob.recommended.threshold > 0.5
    assert (logprob.recommended.actions, logprob.recommended.bad) == (200, 0)
    [line] = [line for line in format_table(report).splitlines() if " logprob " in line]
    assert line.split()[:6] == ["store_actions", "issue_refund", "logprob", "220", "20", "0.90"]
