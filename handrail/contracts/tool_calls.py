"""Tool activities and the compensations (saga) that undo them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from handrail.contracts._base import _Contract


class SharedLimit(_Contract):
    """A money limit across all tasks (a profile rule's ``shared_limit``), as the workflow
    hands it to the tool activity, which reserves the amount before the effect
    (``handrail.storage.limits``)."""

    limit: Decimal = Field(ge=0, description="Most that live reservations may add up to.")
    window: timedelta = Field(gt=timedelta(0), description="How far back reservations count.")
    per: str | None = Field(
        default=None,
        description="The argument whose value scopes the limit (None: one scope for the tool).",
    )
    amount_field: str | None = Field(
        default=None, description="The argument that carries the amount (the tool's)."
    )


class ToolCall(_Contract):
    """Input of every tool activity (the activity's name is the tool's name)."""

    task_id: str
    step: int = Field(description="The step's number, from 1 (as the trace shows it).")
    idempotency_key: str = Field(
        description="workflow id / first run id / step: unique per task run (a workflow id "
        "reused after its run closed gets new keys), stable across retries, replays and "
        "continue-as-new."
    )
    arguments: dict[str, Any] = Field(default_factory=dict)
    tool: str | None = Field(
        default=None,
        description="The tool's name, when its activity serves several (an MCP server's).",
    )
    limit: SharedLimit | None = Field(
        default=None, description="A limit across tasks: the amount is reserved before the effect."
    )


class ToolOutcome(_Contract):
    """Output of every tool activity. ``ok=False`` is an answer the model can read (not found,
    out of stock), not an infrastructure failure; those raise and are retried by Temporal."""

    ok: bool
    result: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    summary: str = ""
    latency_ms: float = 0.0
    attempt: int = Field(default=1, description="Which attempt of the tool activity this is.")

    def for_model(self) -> str:
        """The observation text handed back to the model."""
        if self.ok:
            return json.dumps(self.result, sort_keys=True, default=str)
        return json.dumps({"error": self.error or "the tool failed"}, sort_keys=True)


class CompensationRequest(_Contract):
    """Input of every compensation activity: undo what ``idempotency_key`` did, if anything."""

    task_id: str
    idempotency_key: str
    tool: str = Field(description="The action being undone.")
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="The arguments the action ran with, given only for a tool a framework runs "
        "itself (``ToolBinding.framework``): it never saw the idempotency key, so its undo finds "
        "the effect by what was asked.",
    )


CompensationStatus = Literal["undone", "nothing_to_undo", "already_undone", "failed"]


class CompensationOutcome(_Contract):
    """Output of every compensation activity."""

    status: CompensationStatus
    detail: str = ""


class PendingCompensation(_Contract):
    """An entry of the saga stack: pushed before its action runs."""

    step: int = Field(description="The number of the step whose action this undoes, from 1.")
    tool: str
    compensation: str
    idempotency_key: str
    arguments: dict[str, Any] = Field(
        default_factory=dict,
        description="For a tool a framework runs itself: what its compensation is handed.",
    )


class CompensationRecord(_Contract):
    """A compensation as it ran (or could not), for the trace."""

    step: int = Field(description="The number of the step whose action was undone, from 1.")
    tool: str
    compensation: str
    idempotency_key: str
    status: CompensationStatus
    detail: str = ""
    at: datetime
