"""Every error the gateway answers is JSON: ``{"error": {"type": ..., "message": ...}}``.

Handrail's own exceptions map to a status once, here, so that a route never picks a status of
its own for them; anything unexpected is a 500 with a generic message (and a log line with the
traceback), never a stack trace in the response. What is not the caller's fault and passes is
a 503 (Temporal or the state database away) or a 504 (a decision the task did not confirm in
time): worth retrying, and said so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from handrail.errors import (
    ErrorType,
    HandrailError,
    InvalidReviewError,
    InvalidTaskError,
    NoWorkerError,
    ReviewRefusedError,
    TaskFailedError,
    UnknownProfileError,
    UnknownTaskError,
)

log = logging.getLogger(__name__)

# The review update's refusals, by the ``ErrorType`` the workflow raises: someone else decided
# first (or a wrong step), or the proposal changed since it was shown, is a conflict; a reviewer
# outside the tier is forbidden; a decision whose content cannot stand (an edit off the schema
# or over a limit, an answer without text) is unprocessable, and a different decision would pass.
REVIEW_STATUS: Final[Mapping[str, int]] = {
    ErrorType.REVIEW_STALE: 409,
    ErrorType.REVIEW_FINGERPRINT_MISMATCH: 409,
    ErrorType.REVIEW_UNAUTHORISED: 403,
    ErrorType.REVIEW_INVALID_EDIT: 422,
    ErrorType.REVIEW_POLICY_DENIED: 422,
    ErrorType.REVIEW_INCOMPLETE: 422,
}
_HTTP_TYPES: Final = {
    400: "BadRequest",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "TooLarge",
    415: "UnsupportedMediaType",
}


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


class ApiError(Exception):
    """An error response raised from a route or dependency."""

    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(type=error_type, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def describe_request_errors(errors: Sequence[Any]) -> str:
    """One clause per failing field, named as the caller wrote it (``verdict``, ``query tier``):
    FastAPI's own locations start with ``body``, which the caller never typed."""
    clauses = []
    for item in errors:
        location = [str(part) for part in item.get("loc", ())]
        where = location[0] if location else "body"
        field = ".".join(location[1:])
        if item.get("type") == "extra_forbidden" and field == "reviewer":
            clauses.append(
                "reviewer: not accepted: the verdict is recorded under the name the bearer "
                "token belongs to"
            )
            continue
        name = field if where == "body" else f"{where} {field}".strip()
        clauses.append(f"{name or 'body'}: {item.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(clauses)


def decision_timeout(task_id: str, seconds: float | None) -> ApiError:
    """504 for a decision the task did not confirm in ``seconds``. Truthful about what is
    known: the update may sit with the server until a worker returns, and a step counts one
    decision only (the workflow refuses a second one as ``ReviewStale``)."""
    return ApiError(
        504,
        "Timeout",
        f"task {task_id} did not confirm the decision"
        + (f" within {seconds:g} s" if seconds is not None else "")
        + " (its worker may have stopped): it may still take effect when a worker takes the "
        "task up, and a step counts one decision only; look at the task again before deciding "
        "again",
    )


def state_database_unavailable(error: Exception) -> ApiError:
    """503 for Handrail's state database not answering. The driver's text stays in the log:
    it can carry the statement and its parameters, never meant for a caller."""
    cause = getattr(error, "orig", None) or error
    log.warning("the state database (HANDRAIL_STATE_URL) failed: %s", cause)
    return ApiError(
        503,
        "StateDatabaseUnavailable",
        "Handrail's state database (HANDRAIL_STATE_URL) is unreachable or failed "
        f"({type(cause).__name__}); retry later",
    )


def as_api_error(error: Exception) -> ApiError | None:
    """The response a Handrail exception stands for; ``None`` for an unexpected one."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, InvalidTaskError | InvalidReviewError):
        return ApiError(422, "InvalidRequest", str(error))
    if isinstance(error, UnknownProfileError):
        return ApiError(422, "UnknownProfile", str(error))
    if isinstance(error, UnknownTaskError):
        return ApiError(404, "UnknownTask", str(error))
    if isinstance(error, NoWorkerError):
        return ApiError(503, "NoWorker", str(error))
    if isinstance(error, ReviewRefusedError):
        kind = error.error_type or ErrorType.REVIEW_REFUSED
        return ApiError(REVIEW_STATUS.get(kind, 409), kind, str(error))
    if isinstance(error, TaskFailedError):
        return ApiError(409, "TaskFailed", str(error))
    if isinstance(error, RPCError):
        # Temporal is unreachable or refused: not the caller's fault, and worth retrying.
        return ApiError(503, "TemporalUnavailable", f"Temporal did not answer: {error.message}")
    if isinstance(error, WorkflowUpdateRPCTimeoutOrCancelledError):
        # Routes that send decisions answer this themselves, naming the task; this is the net.
        return ApiError(504, "Timeout", "the task did not confirm the decision in time")
    if isinstance(error, DBAPIError | DisconnectionError | PoolTimeoutError):
        return state_database_unavailable(error)
    return None


def install_error_handlers(app: FastAPI) -> None:
    async def on_request_invalid(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return error_response(422, "InvalidRequest", describe_request_errors(error.errors()))

    async def on_http(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        kind = _HTTP_TYPES.get(error.status_code, "HttpError")
        return error_response(
            error.status_code, kind, str(error.detail), getattr(error, "headers", None)
        )

    async def on_error(_: Request, error: Exception) -> JSONResponse:
        known = as_api_error(error)
        if known is None:
            log.exception("unexpected error in the HTTP gateway")
            return error_response(500, "InternalError", "unexpected error; see the gateway log")
        return error_response(known.status, known.error_type, known.message, known.headers)

    app.add_exception_handler(RequestValidationError, on_request_invalid)
    app.add_exception_handler(HTTPException, on_http)
    # The known ones by class: Starlette answers those in its exception middleware; a handler
    # for ``Exception`` alone runs in the outermost middleware, which re-raises after answering
    # (right for a real bug, which the server then logs; wrong for an unknown task id).
    for known in (
        ApiError,
        HandrailError,
        RPCError,
        WorkflowUpdateRPCTimeoutOrCancelledError,
        DBAPIError,
        DisconnectionError,
        PoolTimeoutError,
    ):
        app.add_exception_handler(known, on_error)
    app.add_exception_handler(Exception, on_error)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, with the error body's schema."""
    return {status: {"model": ErrorBody} for status in statuses}
