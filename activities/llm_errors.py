"""How a failed model call is reported to Temporal, which owns every retry.

The OpenAI client is built with ``max_retries=0``; this module decides what Temporal may retry:

- rate limited (429): retryable, honouring ``Retry-After`` when the server sends one;
- server errors (5xx), timeouts, lost connections, conflicts: retryable;
- authentication / permission (401, 403): non-retryable, a key or account to fix;
- bad request, unknown model, unprocessable (400, 404, 422): non-retryable, a request to fix.

Messages come from the HTTP status and the provider's error text; the API key is never in them.
"""

from __future__ import annotations

from datetime import timedelta

import openai
from temporalio.exceptions import ApplicationError

from handrail.errors import ErrorType

_NON_RETRYABLE_STATUS = {
    400: ErrorType.LLM_BAD_REQUEST,
    401: ErrorType.LLM_AUTH,
    403: ErrorType.LLM_AUTH,
    404: ErrorType.LLM_BAD_REQUEST,
    422: ErrorType.LLM_BAD_REQUEST,
}
_MAX_RETRY_AFTER = timedelta(minutes=5)


def _retry_after(error: openai.APIStatusError) -> timedelta | None:
    value = error.response.headers.get("retry-after")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:  # an HTTP date: fall back to the retry policy's own backoff
        return None
    if seconds is None or seconds < 0:
        return None
    return min(timedelta(seconds=seconds), _MAX_RETRY_AFTER)


def classify_llm_error(error: openai.OpenAIError) -> ApplicationError:
    """The ``ApplicationError`` to raise for ``error``: typed, retryable or not."""
    if isinstance(error, openai.APITimeoutError):
        return ApplicationError(f"model call timed out: {error}", type=ErrorType.LLM_UNAVAILABLE)
    if isinstance(error, openai.APIConnectionError):
        return ApplicationError(
            f"cannot reach the model endpoint: {error}", type=ErrorType.LLM_UNAVAILABLE
        )
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        detail = f"model endpoint answered HTTP {status}: {error.message}"
        if status in _NON_RETRYABLE_STATUS:
            return ApplicationError(detail, type=_NON_RETRYABLE_STATUS[status], non_retryable=True)
        if status == 429:
            return ApplicationError(
                detail, type=ErrorType.LLM_RATE_LIMITED, next_retry_delay=_retry_after(error)
            )
        return ApplicationError(detail, type=ErrorType.LLM_UNAVAILABLE)
    # Anything else from the SDK (e.g. a response it cannot parse) is most likely transient.
    return ApplicationError(f"model call failed: {error}", type=ErrorType.LLM_UNAVAILABLE)
