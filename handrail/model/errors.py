"""How a failed model call is reported to Temporal, which owns every retry.

The OpenAI client is built with ``max_retries=0``; this module decides what Temporal may retry:

- rate limited (429): retryable, after the retry policy's backoff, or what ``Retry-After`` asks
  when that is longer (``retry_delay``);
- server errors (5xx), timeouts, lost connections, conflicts: retryable;
- a body that is not JSON, or JSON that is not a chat completion: retryable (``LlmBadResponse``),
  since proxies and gateways answer with HTML pages transiently;
- authentication / permission (401, 403): non-retryable, a key or account to fix;
- bad request, unknown model, unprocessable (400, 404, 422): non-retryable, a request to fix.

Messages come from the HTTP status and the provider's error text; the API key is never in them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx2
import openai
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from pydantic import BaseModel
from temporalio.common import RetryPolicy
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
# Temporal's documented default when a policy sets no maximum interval.
_DEFAULT_MAXIMUM_INTERVALS = 100
_BODY_PREVIEW_CHARS = 100
# Keys a debugging proxy might echo back in its page: bearer tokens and OpenAI-style keys.
_SECRET = re.compile(r"(?i)(bearer\s+)\S+|\bsk-[\w-]+")


def _policy_interval(attempt: int, policy: RetryPolicy) -> timedelta:
    """What ``policy`` waits after failed attempt ``attempt`` (1-based), by Temporal's documented
    rule: ``initial_interval * backoff_coefficient ** (attempt - 1)``, capped by the maximum.
    Only compared with what the provider asks for: the wait itself is Temporal's."""
    initial = policy.initial_interval.total_seconds()
    maximum = (
        policy.maximum_interval.total_seconds()
        if policy.maximum_interval  # unset (or zero from the server) means Temporal's default
        else initial * _DEFAULT_MAXIMUM_INTERVALS
    )
    try:
        seconds = initial * policy.backoff_coefficient ** max(attempt - 1, 0)
    except OverflowError:  # thousands of attempts: far past the cap anyway
        seconds = maximum
    return timedelta(seconds=min(seconds, maximum))


def _retry_after_seconds(headers: Mapping[str, str], now: datetime) -> float | None:
    # ``retry-after-ms`` first, as OpenAI's own client reads it (OpenAI sends both).
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return float(milliseconds) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:  # the other form HTTP allows: a date, e.g. "Wed, 26 Nov 2026 12:01:30 GMT"
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000": RFC 5322's "UTC, zone unknown"
        when = when.replace(tzinfo=UTC)
    return (when - now).total_seconds()


def retry_delay(
    headers: Mapping[str, str],
    *,
    attempt: int,
    retry_policy: RetryPolicy | None,
    now: datetime,
) -> timedelta | None:
    """The ``next_retry_delay`` for a rate-limited attempt, or None to leave the wait to
    Temporal's retry policy.

    ``Retry-After`` (capped at five minutes) is a minimum, and Temporal has no "at least":
    ``next_retry_delay`` *replaces* the policy's backoff for the next retry. So it is set only
    when the provider asks for longer than the policy would wait anyway; otherwise the policy's
    own backoff applies. Never shorter: a server that keeps saying "retry in 1 s" would burn
    every attempt in seconds while a 500 is backed off for minutes. Without the policy (not
    every server reports it), the header alone is the delay.
    """
    seconds = _retry_after_seconds(headers, now)
    # No wait, a past date or a value that is not a number asks for nothing: the policy's wait.
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        return None
    asked = min(timedelta(seconds=seconds), _MAX_RETRY_AFTER)
    if retry_policy is not None and asked <= _policy_interval(attempt, retry_policy):
        return None
    return asked


def classify_llm_error(
    error: openai.OpenAIError,
    *,
    attempt: int = 1,
    retry_policy: RetryPolicy | None = None,
    now: datetime | None = None,
) -> ApplicationError:
    """The ``ApplicationError`` to raise for ``error``: typed, retryable or not.

    ``attempt`` and ``retry_policy`` are the activity's (``activity.info()``): a rate limit's
    ``Retry-After`` overrides the policy's backoff only when it asks for longer. ``now`` reads
    an HTTP-date ``Retry-After``.
    """
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
            delay = retry_delay(
                error.response.headers,
                attempt=attempt,
                retry_policy=retry_policy,
                now=now or datetime.now(UTC),
            )
            if delay is not None:
                detail += f" (retry in {delay.total_seconds():g}s)"
            return ApplicationError(detail, type=ErrorType.LLM_RATE_LIMITED, next_retry_delay=delay)
        return ApplicationError(detail, type=ErrorType.LLM_UNAVAILABLE)
    # Anything else from the SDK (e.g. a response it cannot parse) is most likely transient.
    return ApplicationError(f"model call failed: {error}", type=ErrorType.LLM_UNAVAILABLE)


def bad_response_error(
    status: int, content_type: str, body: bytes, *, is_json: bool, secret: str = ""
) -> ApplicationError:
    """The retryable error for a 2xx reply that is not a chat completion.

    The message shows the start of the body, because "not JSON" alone does not tell a login page
    from an empty reply; ``secret`` (the API key) and anything shaped like a key are masked first.
    """
    what = "JSON that is not a chat completion" if is_json else "a body that is not JSON"
    text = " ".join(body.decode("utf-8", errors="replace").split())
    if secret:
        text = text.replace(secret, "***")
    preview = _SECRET.sub(lambda match: (match.group(1) or "") + "***", text)
    if len(preview) > _BODY_PREVIEW_CHARS:
        preview = preview[:_BODY_PREVIEW_CHARS] + "…"
    return ApplicationError(
        f"the model endpoint returned {what} (HTTP {status}, content-type "
        f"{content_type or '(none)'}): {preview or '(empty)'}",
        type=ErrorType.LLM_BAD_RESPONSE,
    )


def _readable(completion: ChatCompletion) -> bool:
    """Whether the parts ``parse_completion`` reads have the types the API documents. The SDK's
    parse keeps whatever JSON it got (a ``message`` that is a string, ``arguments`` sent as an
    object, a list as a tool's name): read as is, those raised AttributeError or TypeError, an
    error nobody classified, instead of this module's retryable ``LlmBadResponse``."""
    choices = completion.choices
    if not isinstance(choices, list) or not isinstance(completion.model, str):
        return False
    usage = completion.usage
    if usage is not None and not (
        isinstance(usage, CompletionUsage)
        and isinstance(usage.prompt_tokens, int)
        and isinstance(usage.completion_tokens, int)
    ):
        return False
    if not choices:
        return True  # no choices at all: an invalid decision the model is told about
    choice = choices[0]
    if not isinstance(choice, Choice) or not isinstance(choice.message, ChatCompletionMessage):
        return False
    message = choice.message
    if not isinstance(message.content, str | None):
        return False
    calls = message.tool_calls
    if calls is None:
        return True
    if not isinstance(calls, list):
        return False
    for call in calls:
        if not isinstance(call, BaseModel) or not isinstance(getattr(call, "type", None), str):
            return False
        if call.type == "function":
            function = getattr(call, "function", None)
            if not isinstance(getattr(function, "name", None), str):
                return False
            if not isinstance(getattr(function, "arguments", None), str | None):
                return False
            if not isinstance(getattr(call, "id", None), str | None):
                return False
    return True


def read_completion(
    parse: Callable[[], object], response: httpx2.Response, *, secret: str = ""
) -> ChatCompletion:
    """The completion in a 2xx ``response``, or raise the ``LlmBadResponse`` error.

    ``parse`` is the SDK's own (``with_raw_response``'s ``.parse``). It does not validate: an HTML
    page comes back as a ``str``, unreadable JSON raises ``json.JSONDecodeError`` and JSON of
    another shape becomes a ``ChatCompletion`` whose fields are missing.
    """
    content_type = response.headers.get("content-type", "")
    try:
        parsed = parse()
    except ValueError as error:  # json.JSONDecodeError
        raise bad_response_error(
            response.status_code, content_type, response.content, is_json=False, secret=secret
        ) from error
    if isinstance(parsed, ChatCompletion) and _readable(parsed):
        return parsed
    raise bad_response_error(
        response.status_code,
        content_type,
        response.content,
        is_json=not isinstance(parsed, str),
        secret=secret,
    )
