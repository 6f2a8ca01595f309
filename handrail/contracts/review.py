"""The policy's gate and the people behind it: pending reviews, decisions and their records."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, computed_field

from handrail.contracts._base import _Contract

GateAction = Literal["auto", "review", "deny"]


class GateVerdict(_Contract):
    """The policy's verdict on a proposed action, with its reason in words."""

    action: GateAction
    reason: str = ""


ReviewVerdict = Literal["approve", "edit", "reject", "answer"]


class ReviewDecision(_Contract):
    """A reviewer's decision: the input of the ``submit_review`` signal and ``review`` update.

    ``step`` is the step number that ``pending`` and ``trace`` show (1-based); a decision for a
    step that is no longer pending is stale and refused. ``fingerprint``, when sent, binds the
    decision to the exact proposal the reviewer saw (``PendingReview.fingerprint``): if what is
    pending now has another one, the decision is refused (``ReviewFingerprintMismatch``). It is
    optional so that the CLI and hand-written signals keep working; signed links always send it.
    """

    reviewer: str = Field(min_length=1)
    step: int = Field(ge=1)
    verdict: ReviewVerdict
    arguments: dict[str, Any] | None = Field(default=None, description="New arguments (edit).")
    answer: str | None = Field(default=None, description="The reviewer's own answer (answer).")
    comment: str = ""
    fingerprint: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The pending review's fingerprint the reviewer saw; refused if it no "
        "longer matches.",
    )


class ReviewReceipt(_Contract):
    """Output of the ``review`` update: the decision was accepted for this step."""

    step: int
    verdict: ReviewVerdict
    tier: str


class PendingReview(_Contract):
    """A proposed action waiting for a person."""

    step: int
    tool: str
    arguments: dict[str, Any]
    reason: str
    tier: str
    reviewers: list[str]
    requested_at: datetime
    deadline_at: datetime
    summary: str = ""
    fingerprint: str | None = Field(
        default=None,
        description="Digest of the task run, step, tool and arguments shown "
        "(handrail.review.fingerprint); a decision that names it is refused if it changed. "
        "None in runs recorded before fingerprints existed.",
    )


class ReviewRecord(_Contract):
    """The verdict a step received, as recorded in its step record."""

    reviewer: str
    verdict: ReviewVerdict
    tier: str
    via: Literal["signal", "update"]
    arguments: dict[str, Any] | None = None
    answer: str | None = None
    comment: str = ""
    fingerprint: str | None = Field(
        default=None, description="The fingerprint the decision was bound to, if it named one."
    )
    requested_at: datetime
    decided_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def wait_seconds(self) -> float:
        return (self.decided_at - self.requested_at).total_seconds()


class IgnoredReview(_Contract):
    """A decision that arrived by signal and was refused (the update path raises instead)."""

    decision: Any = Field(
        description="The decision as received: a ``ReviewDecision``'s fields, or whatever JSON "
        "a malformed signal carried."
    )
    reason: str
    at: datetime


class ReviewNotice(_Contract):
    """Input of the ``notify_reviewers`` activity."""

    task_id: str
    pending: PendingReview


class NoticeResult(_Contract):
    delivered: bool
    detail: str = ""
