"""What callers hand the client, parsed into contracts.

Bad input is refused here, before any workflow starts, with an error that names the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from handrail.contracts import AgentTask, ReviewDecision
from handrail.errors import InvalidReviewError, InvalidTaskError, describe_validation_error

TaskInput = AgentTask | Mapping[str, Any] | str | bytes
ReviewInput = ReviewDecision | Mapping[str, Any]


def parse_task(data: TaskInput) -> AgentTask:
    """An ``AgentTask`` from a model, a mapping or JSON text; ``InvalidTaskError`` otherwise."""
    if isinstance(data, AgentTask):
        return data
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as error:
            raise InvalidTaskError(
                f"task input is not valid JSON: {error.msg} at line {error.lineno} "
                f"column {error.colno}"
            ) from None
        if not isinstance(data, dict):
            raise InvalidTaskError('task input must be a JSON object such as {"goal": "..."}')
    try:
        return AgentTask.model_validate(data)
    except ValidationError as error:
        raise InvalidTaskError(describe_validation_error("task", error)) from None


def parse_review(data: ReviewInput) -> ReviewDecision:
    """A ``ReviewDecision`` from a model or mapping; ``InvalidReviewError`` names the field."""
    if isinstance(data, ReviewDecision):
        return data
    try:
        return ReviewDecision.model_validate(data)
    except ValidationError as error:
        raise InvalidReviewError(describe_validation_error("review", error)) from None
