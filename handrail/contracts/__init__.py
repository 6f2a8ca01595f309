"""The pydantic contracts that cross Temporal's boundary.

Every workflow, activity, query and (later) signal takes one model and returns one model, so that a
field can be added without breaking runs already in flight: every field that is not part of the
original contract has a default. Payloads travel through ``pydantic_data_converter``.

These models are imported inside the workflow sandbox: keep this package free of I/O.

One concern per module, every public name re-exported here (import from ``handrail.contracts``):

- ``_base``: ``_Contract``, the base that omits empty defaults from payloads;
- ``profile``: a profile, its tool bindings and rules, and the review ladder;
- ``decisions``: what the model proposed, and the ``decide`` activity's input;
- ``tools``: tool calls and outcomes, and the compensations that undo them;
- ``review``: the policy's verdict and everything about reviews;
- ``steps``: one step of the decision path;
- ``task``: a task's input, status, result, trace and ledger record.
"""

from handrail.contracts.continuation import RECENT_STEPS_KEPT, Continuation, DeferredAction
from handrail.contracts.decisions import DecideRequest, Decision, DecisionKind, Observation, Opening
from handrail.contracts.profile import (
    Autonomy,
    CommitRule,
    FinalAnswerRule,
    LoadProfileRequest,
    McpServer,
    Profile,
    ReviewTier,
    ToolBinding,
    ToolRule,
)
from handrail.contracts.review import (
    GateAction,
    GateVerdict,
    IgnoredReview,
    NoticeResult,
    PendingReview,
    ReviewDecision,
    ReviewNotice,
    ReviewReceipt,
    ReviewRecord,
    ReviewVerdict,
)
from handrail.contracts.steps import StepRecord
from handrail.contracts.task import (
    MAX_CONTEXT_BYTES,
    MAX_GOAL_CHARS,
    MAX_TASK_ID_CHARS,
    AgentTask,
    RecordedRun,
    RunRecord,
    TaskResult,
    TaskStatus,
    Trace,
    TraceRequest,
)
from handrail.contracts.tool_calls import (
    CompensationOutcome,
    CompensationRecord,
    CompensationRequest,
    CompensationStatus,
    PendingCompensation,
    SharedLimit,
    ToolCall,
    ToolOutcome,
)

__all__ = [
    "MAX_CONTEXT_BYTES",
    "MAX_GOAL_CHARS",
    "MAX_TASK_ID_CHARS",
    "RECENT_STEPS_KEPT",
    "AgentTask",
    "Autonomy",
    "CommitRule",
    "CompensationOutcome",
    "CompensationRecord",
    "CompensationRequest",
    "CompensationStatus",
    "Continuation",
    "DecideRequest",
    "Decision",
    "DecisionKind",
    "DeferredAction",
    "FinalAnswerRule",
    "GateAction",
    "GateVerdict",
    "IgnoredReview",
    "LoadProfileRequest",
    "McpServer",
    "NoticeResult",
    "Observation",
    "Opening",
    "PendingCompensation",
    "PendingReview",
    "Profile",
    "RecordedRun",
    "ReviewDecision",
    "ReviewNotice",
    "ReviewReceipt",
    "ReviewRecord",
    "ReviewTier",
    "ReviewVerdict",
    "RunRecord",
    "SharedLimit",
    "StepRecord",
    "TaskResult",
    "TaskStatus",
    "ToolBinding",
    "ToolCall",
    "ToolOutcome",
    "ToolRule",
    "Trace",
    "TraceRequest",
]
