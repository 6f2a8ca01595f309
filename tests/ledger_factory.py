"""Run records built by hand, as the workflow would record them, for the ledger, stats, autonomy
and export tests and the ``stats`` benchmark."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from handrail.contracts import (
    CompensationRecord,
    CompensationStatus,
    Decision,
    GateAction,
    GateVerdict,
    ReviewRecord,
    ReviewVerdict,
    RunRecord,
    StepRecord,
    TaskStatus,
    ToolOutcome,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
MODEL = "gpt-4o-mini"
PROFILE = "store_actions"
REDACTED = "[redacted]"
_VERDICTS: list[ReviewVerdict] = ["approve", "edit", "reject", "answer"]


def refund_args(amount: str = "10.00", order_id: int = 1003) -> dict[str, Any]:
    return {"order_id": order_id, "amount": amount, "reason": "damaged"}


def email_args(order_id: int = 1003) -> dict[str, Any]:
    return {"order_id": order_id, "subject": "Your refund", "body": REDACTED}


def decision(
    kind: str = "tool_call",
    tool: str | None = None,
    arguments: dict[str, Any] | None = None,
    *,
    decide_ms: float = 800.0,
    tokens: tuple[int, int] = (600, 40),
    confidence: float | None = 0.9,
    answer: str | None = None,
    model: str = MODEL,
) -> Decision:
    return Decision.model_validate(
        {
            "kind": kind,
            "tool": tool,
            "arguments": arguments or {},
            "answer": answer,
            "confidence": confidence,
            "rationale": f"because {tool or kind}",
            "problem": "not JSON" if kind == "invalid" else None,
            "model": model,
            "tokens_in": tokens[0],
            "tokens_out": tokens[1],
            "latency_ms": decide_ms,
        }
    )


def tool_step(
    index: int,
    tool: str,
    arguments: dict[str, Any] | None = None,
    *,
    ok: bool | None = True,
    tool_ms: float = 5.0,
    decide_ms: float = 800.0,
    tokens: tuple[int, int] = (600, 40),
    gate: GateAction = "auto",
    verdict: ReviewVerdict | None = None,
    reviewer: str = "alice",
    edited: dict[str, Any] | None = None,
    wait_s: float = 60.0,
    escalations: Sequence[str] = (),
    deferred: bool = False,
    at: datetime = T0,
) -> StepRecord:
    """A tool call; ``ok=None`` means the tool never ran."""
    started = at + timedelta(seconds=index)
    review = None
    if verdict is not None:
        review = ReviewRecord(
            reviewer=reviewer,
            verdict=verdict,
            tier="support",
            via="update",
            arguments=edited,
            answer="We will replace it." if verdict == "answer" else None,
            requested_at=started,
            decided_at=started + timedelta(seconds=wait_s),
        )
    outcome = None
    if ok is not None:
        outcome = ToolOutcome(
            ok=ok,
            result={"done": True} if ok else {},
            error=None if ok else "order not found",
            summary=f"{tool} {'ok' if ok else 'failed'}",
            latency_ms=tool_ms,
        )
    return StepRecord(
        step=index + 1,  # ``index``: the step's position, from 0
        started_at=started,
        decision=decision("tool_call", tool, arguments, decide_ms=decide_ms, tokens=tokens),
        outcome=outcome,
        gate=GateVerdict(action=gate, reason=f"{gate} by test"),
        review=review,
        escalations=list(escalations),
        deferred=deferred,
        note=f"{tool} step",
    )


def answer_step(
    index: int, text: str = "Done.", *, decide_ms: float = 700.0, at: datetime = T0
) -> StepRecord:
    return StepRecord(
        step=index + 1,  # ``index``: the step's position, from 0
        started_at=at + timedelta(seconds=index),
        decision=decision("final_answer", answer=text, decide_ms=decide_ms, tokens=(700, 30)),
        note="answered",
    )


def escalate_step(index: int, *, decide_ms: float = 700.0, at: datetime = T0) -> StepRecord:
    return StepRecord(
        step=index + 1,  # ``index``: the step's position, from 0
        started_at=at + timedelta(seconds=index),
        decision=decision("escalate", answer="needs a manager", decide_ms=decide_ms),
        note="the model asked for a human",
    )


def invalid_step(index: int, *, decide_ms: float = 900.0, at: datetime = T0) -> StepRecord:
    return StepRecord(
        step=index + 1,  # ``index``: the step's position, from 0
        started_at=at + timedelta(seconds=index),
        decision=decision("invalid", decide_ms=decide_ms, confidence=None),
        note="refused: not JSON",
    )


def undone(
    step: int,
    tool: str,
    compensation: str,
    at: datetime = T0,
    *,
    status: CompensationStatus = "undone",
) -> CompensationRecord:
    """``step``: the undone step's position, from 0, as the factory's steps take it."""
    return CompensationRecord(
        step=step + 1,
        tool=tool,
        compensation=compensation,
        idempotency_key=f"task/{step}",
        status=status,
        at=at,
    )


def run(
    task_id: str,
    steps: Sequence[StepRecord],
    *,
    status: TaskStatus = "answered",
    profile: str = PROFILE,
    run_id: str = "run-1",
    model: str = MODEL,
    goal: str = "Resolve order 1003",
    compensations: Sequence[CompensationRecord] = (),
    finished_at: datetime = T0 + timedelta(seconds=30),
    duration_s: float = 30.0,
) -> RunRecord:
    return RunRecord(
        task_id=task_id,
        goal=goal,
        profile=profile,
        status=status,
        answer="Done." if status == "answered" else None,
        steps=list(steps),
        compensations=list(compensations),
        run_id=run_id,
        model=model,
        started_at=finished_at - timedelta(seconds=duration_s),
        finished_at=finished_at,
    )


def reviewed_refunds(
    verdicts: Sequence[ReviewVerdict],
    *,
    start: datetime = T0,
    profile: str = PROFILE,
    prefix: str = "rev",
    tool: str = "issue_refund",
) -> list[RunRecord]:
    """One task per verdict: a refund above the review threshold (or a call of ``tool``),
    decided as given."""
    records = []
    for number, verdict in enumerate(verdicts):
        at = start + timedelta(minutes=number)
        refund = tool_step(
            0,
            tool,
            refund_args("80.00"),
            gate="review",
            verdict=verdict,
            edited=refund_args("40.00") if verdict == "edit" else None,
            ok=True if verdict in ("approve", "edit") else None,
            at=at,
        )
        status: TaskStatus = "rejected" if verdict == "reject" else "answered"
        steps = [refund] if verdict in ("reject", "answer") else [refund, answer_step(1, at=at)]
        records.append(
            run(
                f"{prefix}-{number}",
                steps,
                status=status,
                profile=profile,
                finished_at=at + timedelta(seconds=30),
            )
        )
    return records


def synthetic(count: int, *, seed: int = 7, start: datetime = T0) -> Iterator[RunRecord]:
    """``count`` plausible tasks (about four steps each) for benchmarks: questions, refunds run
    on their own or reviewed, rollbacks, invalid replies and denials."""
    rng = random.Random(seed)
    for number in range(count):
        at = start + timedelta(seconds=17 * number)
        ms = rng.lognormvariate(6.7, 0.4)  # ~800 ms model calls
        pick = rng.random()
        steps: list[StepRecord]
        compensations: list[CompensationRecord] = []
        status: TaskStatus = "answered"
        profile = PROFILE
        if pick < 0.45:
            profile = "store_support"
            steps = [
                tool_step(0, "lookup_price", {"product": "Headlamp"}, tool_ms=rng.uniform(1, 9)),
                tool_step(1, "get_order", {"order_id": 1002}, tool_ms=rng.uniform(1, 9)),
                tool_step(2, "lookup_price", {"product": "Stove"}, tool_ms=rng.uniform(1, 9)),
                answer_step(3, decide_ms=ms),
            ]
        elif pick < 0.70:
            steps = [
                tool_step(0, "get_order", {"order_id": 1003}, tool_ms=rng.uniform(1, 9)),
                tool_step(1, "issue_refund", refund_args(), tool_ms=rng.uniform(10, 40)),
                tool_step(2, "send_email", email_args(), deferred=True, tool_ms=30.0),
                answer_step(3, decide_ms=ms),
            ]
        elif pick < 0.90:
            verdict = rng.choices(_VERDICTS, weights=[90, 5, 4, 1])[0]
            ran = verdict in ("approve", "edit")
            steps = [
                tool_step(0, "get_order", {"order_id": 1003}, tool_ms=rng.uniform(1, 9)),
                tool_step(
                    1,
                    "issue_refund",
                    refund_args("80.00"),
                    gate="review",
                    verdict=verdict,
                    edited=refund_args("40.00") if verdict == "edit" else None,
                    ok=True if ran else None,
                    wait_s=rng.uniform(20, 3600),
                    tool_ms=rng.uniform(10, 40),
                ),
            ]
            if ran:
                steps += [
                    tool_step(2, "send_email", email_args(), deferred=True, tool_ms=30.0),
                    answer_step(3, decide_ms=ms),
                ]
            status = "answered" if verdict != "reject" else "rejected"
        elif pick < 0.96:
            steps = [
                tool_step(0, "get_order", {"order_id": 1002}, tool_ms=rng.uniform(1, 9)),
                tool_step(1, "apply_discount", refund_args("5.00", 1002), tool_ms=15.0),
                tool_step(2, "issue_refund", refund_args("20.00", 1002), tool_ms=20.0),
                escalate_step(3, decide_ms=ms),
            ]
            compensations = [
                undone(2, "issue_refund", "void_refund"),
                undone(1, "apply_discount", "revoke_discount"),
            ]
            status = "escalated"
        else:
            steps = [
                invalid_step(0),
                tool_step(1, "issue_refund", refund_args("900.00"), gate="deny", ok=None),
                tool_step(2, "get_order", {"order_id": 99}, ok=False, tool_ms=3.0),
                answer_step(3, decide_ms=ms),
            ]
        yield run(
            f"task-{number:06d}",
            steps,
            status=status,
            profile=profile,
            run_id=f"run-{number}",
            finished_at=at + timedelta(seconds=30),
            compensations=compensations,
        )
