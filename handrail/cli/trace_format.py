"""Traces and results as text a person reads in a terminal.

Goals, answers, arguments, rationales, notes and errors come from users and models: every line
these functions return passes through :func:`printable`, so that a NUL, an ANSI escape
(``ESC[2J`` clears the screen) or a BEL in them shows as ``\\x00``, ``\\x1b``, ``\\x07``
instead of reaching the terminal, and a newline in them cannot forge a line of the output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from handrail.contracts import CompensationRecord, PendingReview, StepRecord, TaskResult, Trace

# C0 controls (newline and tab too: only the formatter decides where lines break), DEL and C1
# controls (0x9b is a one-byte CSI on some terminals), and the bidirectional overrides and
# isolates that reorder what a line appears to say ("Trojan Source").
_UNPRINTABLE = {
    code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    for code in [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        *range(0x202A, 0x202F),
        *range(0x2066, 0x206A),
    ]
} | {ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"}


def printable(text: str) -> str:
    """``text`` with control characters shown as visible escapes, safe to print as one line."""
    return text.translate(_UNPRINTABLE)


def _arguments(arguments: dict[str, object]) -> str:
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False) if arguments else ""


def format_step(step: StepRecord) -> list[str]:
    """A step as two or three lines: what was proposed, what came of it, and why."""
    decision = step.decision
    confidence = "n/a" if decision.confidence is None else f"{decision.confidence:.2f}"
    head = f"{step.step:>3}. {decision.kind:<12} {decision.tool or ''} "
    head += _arguments(decision.arguments)
    retries = f", attempt {decision.attempt}" if decision.attempt > 1 else ""
    lines = [
        f"{head.rstrip()}   [confidence {confidence}; model {decision.latency_ms:.0f} ms, "
        f"{decision.tokens_in}+{decision.tokens_out} tokens{retries}]"
    ]
    if decision.rationale:
        lines.append(f"       why: {decision.rationale}")
    if step.gate is not None and step.gate.action != "auto":
        lines.append(f"       policy: {step.gate.action} ({step.gate.reason})")
    for tier in step.escalations:
        lines.append(f"       review: no decision at tier {tier} before its deadline")
    if step.review is not None:
        review = step.review
        edit = f" to {_arguments(review.arguments)}" if review.arguments else ""
        lines.append(
            f"       review: {review.verdict}{edit} by {review.reviewer} ({review.tier}, "
            f"via {review.via}, after {review.wait_seconds:.1f} s)"
        )
    if step.outcome is not None:
        outcome = step.outcome
        status = "ok" if outcome.ok else f"error: {outcome.error}"
        when = "at commit: " if step.deferred else ""
        if outcome.attempt > 1:
            status += f", attempt {outcome.attempt}"
        lines.append(
            f"       → {when}{outcome.summary or status} ({status}, {outcome.latency_ms:.0f} ms)"
        )
    elif step.deferred:
        lines.append(f"       → {step.note}")
    elif decision.problem:
        lines.append(f"       → refused: {decision.problem}")
    elif decision.answer:
        lines.append(f"       → {decision.answer}")
    return [printable(line) for line in lines]


def format_compensations(records: Iterable[CompensationRecord]) -> list[str]:
    """The rollback, newest step first, as it ran."""
    lines = []
    for record in records:
        detail = f": {record.detail}" if record.detail else ""
        lines.append(
            f"  ↶ {record.compensation} for step {record.step} ({record.tool}) "
            f"→ {record.status}{detail}"
        )
    return [printable(line) for line in lines]


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
    return "\n".join([printable(line) for line in header] + body)


def format_result(result: TaskResult, ui_url: str, goal: str | None = None) -> list[str]:
    """A finished task as a person reads it: the answer, the totals, each step, the rollback."""
    lines = [f"Q: {goal}"] if goal else []
    lines.append(f"A: {result.answer or '(no answer: ' + result.status + ')'}")
    lines.append(
        f"   {result.status} · {len(result.steps)} step(s) · "
        f"{result.tokens_in} tokens in / {result.tokens_out} out"
    )
    if result.error:  # why no answer was delivered (a commit point's failed action, say)
        lines.append(f"   why: {result.error}")
    lines += ["  " + line for step in result.steps for line in format_step(step)]
    if result.compensations:
        lines.append("   rolled back:")
        lines += ["  " + line for line in format_compensations(result.compensations)]
    lines.append(f"   UI: {ui_url}")
    return [printable(line) for line in lines]


PROPOSAL_PREFIX = 12
"""Hex digits of a proposal's fingerprint that ``pending`` shows and ``review --proposal``
takes: enough to tell proposals apart, short enough to type."""


def format_pending(rows: list[tuple[str, PendingReview]], now: datetime) -> str:
    """Tasks awaiting review as a table a person scans: what, why, who, how long left."""
    if not rows:
        return "No task is awaiting review."
    header = (
        "TASK",
        "STEP",
        "PROPOSAL",
        "ACTION",
        "TIER",
        "REVIEWERS",
        "WAITING",
        "DEADLINE IN",
        "REASON",
    )
    table = [header]
    for task_id, pending in rows:
        # Escaped before measuring, so that the columns line up with what is printed.
        table.append(
            (
                printable(task_id),
                str(pending.step),
                (pending.fingerprint or "-")[:PROPOSAL_PREFIX],
                _clip(printable(pending.summary), 48),
                printable(pending.tier),
                printable(",".join(pending.reviewers)),
                _duration((now - pending.requested_at).total_seconds()),
                _duration((pending.deadline_at - now).total_seconds()),
                _clip(printable(pending.reason), 40),
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"
