"""Names shared by the workflow, the worker and every client: defined here once."""

from typing import Final

WORKFLOW_TYPE: Final = "AgentWorkflow"
"""The workflow type other SDKs and the temporal CLI start (``--type AgentWorkflow``)."""

TRACE_QUERY: Final = "trace"
"""The query that returns a task's decision path."""

TASK_ID_PREFIX: Final = "task-"
"""Prefix of generated task ids (a caller's own ``task_id`` is used as given)."""

REVIEW_SIGNAL: Final = "submit_review"
"""Signal a reviewer's decision (fire and forget; refused decisions are recorded, not raised)."""

REVIEW_UPDATE: Final = "review"
"""Update with a reviewer's decision; its validator refuses stale or unauthorised ones at once."""

FINAL_ANSWER_TOOL: Final = "final_answer"
"""The control tool a model ends a task with; a final answer pending review shows under it."""

ESCALATE_TOOL: Final = "escalate"
"""The control tool a model hands the task to a person with."""

MAX_STEP_PAYLOAD_BYTES: Final = 1024 * 1024
"""The most a tool result or a model decision may carry into workflow history: half Temporal's
2 MiB payload limit, so one step can never fail its workflow task for size. A larger one is a
clear, non-retryable failure of that step, never an endless retry."""

OMITTED_STEPS_NOTE: Final = "[{count} earlier step(s) of this task are not shown here.]"
"""What the model is told in place of the steps outside its window (``context_steps``)."""
