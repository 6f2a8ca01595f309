"""Training data: every recorded decision with its context and what people made of it.

``starter.py export --out FILE.jsonl`` writes one JSON object per line, one line per step of
every task in the run ledger (oldest task first, steps in order). Arguments are as the ledger
holds them: the workflow redacts each tool's sensitive arguments before recording (they read
``"[redacted]"``), and export never adds anything the ledger does not hold. Tool *results* are
not exported, only whether the tool succeeded and its one-line summary.

Schema ``handrail.decision/1`` (documented for people in ``docs/training-data.md``):

====================  =========================================================================
key                   value
====================  =========================================================================
``schema``            ``"handrail.decision/1"``
``task_id``           the task (workflow id)
``run_id``            the workflow run
``profile``           the profile the task ran with
``model``             the model of the run
``goal``              the task's goal, in the user's words
``context``           the task's context object; present only when the record carries one
``step``              1-based step number (as ``trace`` and ``pending`` show it)
``started_at``        when the step started (ISO 8601)
``previous``          the decision path before this step: ``[{step, kind, tool, arguments,
                      ok, summary}]`` (arguments as they ran: a reviewer's edit wins)
``decision``          what the model proposed: ``{kind, tool, arguments, rationale,
                      confidence, answer, problem}``; ``kind`` is ``tool_call``,
                      ``final_answer``, ``escalate`` or ``invalid``
``gate``              the policy's verdict ``{action, reason}`` (``auto``, ``review``,
                      ``deny``), or null when the step was not gated
``review``            the reviewer's decision ``{reviewer, verdict, arguments, answer, comment,
                      tier, via, wait_seconds}``, or null; ``verdict`` is ``approve``,
                      ``edit`` (``arguments`` holds the edit), ``reject`` or ``answer``
                      (``answer`` holds the reviewer's reply)
``escalations``       review tiers whose deadline passed before a decision, in order
``outcome``           the tool's result ``{ok, error, summary}``, or null if no tool ran
``category``          the step's outcome category in ``stats`` (``success``, ``approved``,
                      ``failure``, ``denied``, ``rejected``, ``escalated``, ``compensated``,
                      ``skipped``)
``deferred``          true for an irreversible action held to the task's commit point
``task_status``       how the task ended (``answered``, ``rejected``, ``escalated``...)
``finished_at``       when the task ended (ISO 8601)
====================  =========================================================================
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from handrail.contracts import RunRecord, StepRecord
from handrail.contracts.outcomes import step_outcomes
from handrail.storage.ledger import RunLedger
from handrail.storage.ledger_rows import run_model

SCHEMA: Final = "handrail.decision/1"
KEYS: Final = (
    "schema",
    "task_id",
    "run_id",
    "profile",
    "model",
    "goal",
    "context",
    "step",
    "started_at",
    "previous",
    "decision",
    "gate",
    "review",
    "escalations",
    "outcome",
    "category",
    "deferred",
    "task_status",
    "finished_at",
)


def _arguments_run(step: StepRecord) -> dict[str, Any]:
    review = step.review
    if review is not None and review.verdict == "edit" and review.arguments is not None:
        return review.arguments
    return step.decision.arguments


def _previous(step: StepRecord) -> dict[str, Any]:
    return {
        "step": step.step,
        "kind": step.decision.kind,
        "tool": step.decision.tool,
        "arguments": _arguments_run(step),
        "ok": None if step.outcome is None else step.outcome.ok,
        "summary": step.outcome.summary if step.outcome is not None else step.note,
    }


def decision_lines(record: RunRecord, raw: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The export objects of one run, one per step. ``raw`` is the record as stored, read for
    fields a newer record may carry (``context``)."""
    context = (raw or {}).get("context")
    model = run_model(record)
    lines = []
    for position, (step, category) in enumerate(step_outcomes(record)):
        decision, review, outcome = step.decision, step.review, step.outcome
        line: dict[str, Any] = {
            "schema": SCHEMA,
            "task_id": record.task_id,
            "run_id": record.run_id,
            "profile": record.profile,
            "model": decision.model or model,
            "goal": record.goal,
        }
        if context:
            line["context"] = context
        line |= {
            "step": step.step,
            "started_at": step.started_at.isoformat(),
            "previous": [_previous(s) for s in record.steps[:position]],
            "decision": {
                "kind": decision.kind,
                "tool": decision.tool,
                "arguments": decision.arguments,
                "rationale": decision.rationale,
                "confidence": decision.confidence,
                "answer": decision.answer,
                "problem": decision.problem,
            },
            "gate": step.gate.model_dump(mode="json") if step.gate is not None else None,
            "review": None
            if review is None
            else {
                "reviewer": review.reviewer,
                "verdict": review.verdict,
                "arguments": review.arguments,
                "answer": review.answer,
                "comment": review.comment,
                "tier": review.tier,
                "via": review.via,
                "wait_seconds": review.wait_seconds,
            },
            "escalations": list(step.escalations),
            "outcome": None
            if outcome is None
            else {"ok": outcome.ok, "error": outcome.error, "summary": outcome.summary},
            "category": category,
            "deferred": step.deferred,
            "task_status": record.status,
            "finished_at": record.finished_at.isoformat(),
        }
        lines.append(line)
    return lines


def export_jsonl(ledger: RunLedger, out: Path, *, since: datetime | None = None) -> int:
    """Write every recorded decision (of tasks finished at or after ``since``) to ``out``, one
    JSON object per line; returns how many. The file appears complete or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    written = 0
    try:
        with partial.open("w", encoding="utf-8") as sink:
            for text in ledger.record_json(since=since):
                raw = json.loads(text)
                for line in decision_lines(RunRecord.model_validate(raw), raw):
                    sink.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
                    written += 1
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written
