"""Handrail's exceptions, one base per side of the line.

```
HandrailError
├── UserError                 a developer's or caller's mistake: fix the input or the config
│   ├── InvalidTaskError      a task that fails validation (names the field)
│   ├── UnknownProfileError   a profile name that no profile file defines
│   ├── InvalidProfileError   a profile file that fails validation (names the file and field)
│   ├── InvalidReviewError    a review decision that fails validation (names the field)
│   ├── ReviewRefusedError    a review the task refused: stale, unauthorised, invalid edit
│   │                         (``.error_type`` is the ``ErrorType.REVIEW_*`` reason)
│   ├── ConfigurationError    settings or environment that cannot work (e.g. no temporal binary)
│   ├── UnknownTaskError      no task (workflow) with this id in the namespace
│   ├── TaskIdReusedError     a start whose task id already ran another task (nothing started)
│   └── NoWorkerError         a running task's task queue has no worker to answer for it
└── RunError                  a run that did not succeed
    └── TaskFailedError       the workflow failed; carries Temporal's failure message
```

Inside Temporal code the same conditions travel as ``ApplicationError`` with one of the
``ErrorType`` names below, so that other SDKs and the UI see a stable, searchable type.
"""

from __future__ import annotations

from typing import Final

from pydantic import ValidationError


class HandrailError(Exception):
    """Base of every error Handrail raises on purpose."""


class UserError(HandrailError):
    """A mistake on the caller's side: the message says what to change."""


class InvalidTaskError(UserError):
    """The task does not validate."""


class UnknownProfileError(UserError):
    """No profile with this name exists."""


class InvalidProfileError(UserError):
    """A profile file exists but does not validate."""


class InvalidReviewError(UserError):
    """A review decision does not validate."""


class ReviewRefusedError(UserError):
    """The task refused a review decision; the message says why, ``error_type`` which rule."""

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type


class ConfigurationError(UserError):
    """Settings or the environment cannot work as given."""


class UnknownTaskError(UserError):
    """No task with this id exists in the namespace."""


class TaskIdReusedError(UserError):
    """A start named a task id that already ran (or runs) a different task: a different goal,
    profile or context. Nothing new started; ``task_id`` names the existing task."""

    def __init__(self, message: str, *, task_id: str) -> None:
        super().__init__(message)
        self.task_id = task_id


class NoWorkerError(UserError):
    """The task is running but no worker polls its task queue, so nothing can answer for it."""


class RunError(HandrailError):
    """A task ran and did not succeed."""


class TaskFailedError(RunError):
    """The task's workflow failed."""


class ErrorType:
    """``ApplicationError.type`` values raised by Handrail's workflow and activities."""

    INVALID_TASK: Final = "InvalidTask"
    """The task input does not validate (the workflow's own check: the client's raises
    ``InvalidTaskError`` before starting)."""
    UNKNOWN_PROFILE: Final = "UnknownProfile"
    INVALID_PROFILE: Final = "InvalidProfile"
    LLM_AUTH: Final = "LlmAuthError"
    LLM_BAD_REQUEST: Final = "LlmBadRequest"
    LLM_RATE_LIMITED: Final = "LlmRateLimited"
    LLM_UNAVAILABLE: Final = "LlmUnavailable"
    LLM_BAD_RESPONSE: Final = "LlmBadResponse"
    UNKNOWN_TOOL: Final = "UnknownTool"
    ARGUMENT_OUT_OF_RANGE: Final = "ArgumentOutOfRange"
    """A tool failed on a value it cannot hold (an overflow, a driver's data error): the same
    arguments fail on every attempt, so it is not retried (``handrail.tools.permanent``)."""
    NEEDS_MANUAL_RECOVERY: Final = "NeedsManualRecovery"
    REVIEW_REFUSED: Final = "ReviewRefused"
    PAYLOAD_TOO_LARGE: Final = "PayloadTooLarge"
    COMPENSATED_BEFORE_COMMIT: Final = "CompensatedBeforeCommit"
    WEBHOOK_FAILED: Final = "WebhookFailed"
    CONVERSATION_INCOMPLETE: Final = "ConversationIncomplete"
    # Why the ``review`` update refused a decision: one type per reason, so that a client (any
    # SDK, the CLI) can tell "someone else decided first" from "you may not" without parsing.
    REVIEW_STALE: Final = "ReviewStale"
    REVIEW_UNAUTHORISED: Final = "ReviewUnauthorised"
    REVIEW_INVALID_EDIT: Final = "ReviewInvalidEdit"
    REVIEW_POLICY_DENIED: Final = "ReviewPolicyDenied"
    REVIEW_INCOMPLETE: Final = "ReviewIncomplete"
    # The decision names a proposal fingerprint other than the pending one: the reviewer saw
    # something else (another run of the task id, or a proposal since changed).
    REVIEW_FINGERPRINT_MISMATCH: Final = "ReviewFingerprintMismatch"


def describe_validation_error(model: str, error: ValidationError) -> str:
    """``invalid <model>: <field>: <problem>; ...``: one readable clause per failing field."""
    parts = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(input)"
        parts.append(f"{location}: {item['msg']}")
    return f"invalid {model}: " + "; ".join(parts)
