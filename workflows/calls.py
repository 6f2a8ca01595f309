"""Running an activity from the workflow so that a final failure reads well.

Workflow code (deterministic).
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

T = TypeVar("T")


async def call_activity(
    activity: str, arg: Any, result_type: type[T], *, local: bool = False, **kwargs: Any
) -> T:
    """Run an activity; if it fails for good, fail the task with the activity's own message
    and type (e.g. ``UnknownProfile``) rather than a generic "activity failed"."""
    try:
        if local:
            result = await workflow.execute_local_activity(
                activity, arg, result_type=result_type, **kwargs
            )
        else:
            result = await workflow.execute_activity(
                activity, arg, result_type=result_type, **kwargs
            )
        return cast(T, result)
    except ActivityError as error:
        if is_cancelled_exception(error):
            raise  # the task is being cancelled: the workflow rolls back and reports that
        cause = error.cause
        if isinstance(cause, ApplicationError):
            raise ApplicationError(
                f"{activity} failed: {cause.message}", type=cause.type, non_retryable=True
            ) from error
        raise ApplicationError(
            f"{activity} failed: {cause or error}", non_retryable=True
        ) from error
