"""The gateway's own request and response bodies; the task, trace, result and pending review
are Handrail's contracts as they are, so the OpenAPI schema is generated from the same models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from handrail.contracts import PendingReview, ReviewVerdict, TaskResult
from handrail.contracts.task import TaskStatus


class TaskLinks(BaseModel):
    """Where to follow a task (paths on this gateway; the Temporal UI's full URL)."""

    self: str
    trace: str
    inbox: str
    temporal_ui: str


class TaskCreated(BaseModel):
    """``POST /tasks``: 201 when this request started the task, 200 when it had started."""

    task_id: str
    started: bool = Field(description="False: an earlier request with this key started it.")
    links: TaskLinks


class TaskView(BaseModel):
    """``GET /tasks/{id}``: where the task stands, and its result once it has ended."""

    task_id: str
    status: TaskStatus
    done: bool
    answer: str | None = None
    error: str | None = Field(default=None, description="Why it failed, or why no news.")
    pending_review: PendingReview | None = None
    result: TaskResult | None = Field(default=None, description="Once done (not if failed).")
    links: TaskLinks


class ReviewRequest(BaseModel):
    """``POST /reviews/{task}``: a reviewer's decision. No ``reviewer`` field: the verdict is
    recorded under the name the bearer token belongs to, and a body naming one is refused."""

    model_config = ConfigDict(extra="forbid")

    step: int = Field(ge=1, description="The step awaiting review, as listed by GET /reviews.")
    verdict: ReviewVerdict
    arguments: dict[str, Any] | None = Field(
        default=None, description="edit: the tool's new arguments (all of them)."
    )
    answer: str | None = Field(
        default=None, min_length=1, max_length=20_000, description="answer: the reply."
    )
    comment: str = Field(default="", max_length=2_000, description="Why, for the record.")
    fingerprint: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="The pending review's fingerprint as listed: the decision is refused (409) "
        "if the proposal changed since (the model or an edit changed the tool or arguments).",
    )


class ReviewDone(BaseModel):
    """The decision was accepted by the task."""

    task_id: str
    step: int
    verdict: ReviewVerdict
    tier: str
    reviewer: str


class PendingItem(PendingReview):
    """A step awaiting review, with its task and links."""

    task_id: str
    amount: Any = Field(default=None, description="The money the action moves, if any.")
    links: TaskLinks
