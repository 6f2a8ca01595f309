"""Traces and results as text a person reads in a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterable

from handrail.contracts import CompensationRecord, StepRecord, Trace


def _arguments(arguments: dict[str, object]) -> str:
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False) if arguments else ""


def format_step(step: StepRecord) -> list[str]:
    """A step as two or three lines: what was proposed, what came of it, and why."""
    decision = step.decision
    confidence = "n/a" if decision.confidence is None else f"{decision.confidence:.2f}"
    head = f"{step.index + 1:>3}. {decision.kind:<12} {decision.tool or ''} "
    head += _arguments(decision.arguments)
    lines = [
        f"{head.rstrip()}   [confidence {confidence}; model {decision.latency_ms:.0f} ms, "
        f"{decision.tokens_in}+{decision.tokens_out} tokens]"
    ]
    if decision.rationale:
        lines.append(f"       why: {decision.rationale}")
    if step.outcome is not None:
        outcome = step.outcome
        status = "ok" if outcome.ok else f"error: {outcome.error}"
        when = "at commit: " if step.deferred else ""
        lines.append(
            f"       → {when}{outcome.summary or status} ({status}, {outcome.latency_ms:.0f} ms)"
        )
    elif step.deferred:
        lines.append(f"       → {step.note}")
    elif decision.problem:
        lines.append(f"       → refused: {decision.problem}")
    elif decision.answer:
        lines.append(f"       → {decision.answer}")
    return lines


def format_compensations(records: Iterable[CompensationRecord]) -> list[str]:
    """The rollback, newest step first, as it ran."""
    lines = []
    for record in records:
        detail = f": {record.detail}" if record.detail else ""
        lines.append(
            f"  ↶ {record.compensation} for step {record.step + 1} ({record.tool}) "
            f"→ {record.status}{detail}"
        )
    return lines


def format_steps(steps: Iterable[StepRecord]) -> str:
    return "\n".join(line for step in steps for line in format_step(step))


def format_trace(trace: Trace) -> str:
    steps = list(trace.steps)
    tokens_in = sum(s.decision.tokens_in for s in steps)
    tokens_out = sum(s.decision.tokens_out for s in steps)
    header = [
        f"task {trace.task_id} · profile {trace.profile} · {trace.status}",
        f"goal: {trace.goal}",
        f"{len(steps)} step(s), {tokens_in} tokens in / {tokens_out} out",
    ]
    if trace.answer:
        header.append(f"answer: {trace.answer}")
    if trace.error:
        header.append(f"error: {trace.error}")
    body = [format_steps(steps)] if steps else []
    if trace.compensations:
        body += ["rolled back:", *format_compensations(trace.compensations)]
    return "\n".join(header + body)
