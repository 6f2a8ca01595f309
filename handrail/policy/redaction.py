"""Redaction of arguments a tool marks sensitive, for everything a person or a system reads
about a run: the trace query, the task result, the run ledger and its exports, activity
summaries in the UI, review notices. (The tool itself still receives the real value, so the
workflow history holds it: restrict who may read histories with Temporal's own authorization.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from handrail.contracts import Profile, StepRecord

REDACTED = "[redacted]"


def redact(arguments: Mapping[str, Any], sensitive: Iterable[str]) -> dict[str, Any]:
    """``arguments`` with every sensitive field's value replaced."""
    hidden = set(sensitive)
    return {key: REDACTED if key in hidden else value for key, value in arguments.items()}


class _ShowMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def fill_summary(template: str, values: Mapping[str, Any]) -> str:
    """A tool's summary template filled from ``values`` (missing keys show as ``?``), for the
    UI's one-line descriptions of calls and outcomes."""
    return template.format_map(_ShowMissing(values))


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[\s_\-]+", text.lower()) if word]


def named_summary(name: str, summary: str) -> str:
    """A call's one line: the tool's name, then its filled summary (``issue_refund 40.00 on
    order 1003``). A summary that already names the action in words (``list instances`` of
    ``list_instances``, ``close ticket 7`` of ``close_ticket``) is the line alone: the name
    again in front of it would read ``list_instances list instances``."""
    named = _words(name)
    if named and _words(summary)[: len(named)] == named:
        return summary
    return f"{name} {summary}".strip()


def sensitive_fields(profile: Profile | None, tool: str | None) -> list[str]:
    binding = profile.binding(tool or "") if profile is not None else None
    return binding.sensitive if binding is not None else []


def redact_step(step: StepRecord, profile: Profile | None) -> StepRecord:
    """A copy of ``step`` safe to show: decision and review arguments redacted."""
    fields = sensitive_fields(profile, step.decision.tool)
    if not fields:
        return step
    decision = step.decision.model_copy(
        update={"arguments": redact(step.decision.arguments, fields)}
    )
    review = step.review
    if review is not None and review.arguments is not None:
        review = review.model_copy(update={"arguments": redact(review.arguments, fields)})
    return step.model_copy(update={"decision": decision, "review": review})
