"""Typed stubs for every activity the workflow calls: each pairs the activity's name, its input
and output types, and its timeouts and retry policy, in one place.

Workflow code (deterministic). A stub that fails for good fails the task with the activity's own
message and type (``calls.call_activity``), except where noted.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from handrail.contracts import (
        CompensationOutcome,
        CompensationRequest,
        DecideRequest,
        Decision,
        LoadProfileRequest,
        NoticeResult,
        Profile,
        RecordedRun,
        ReviewNotice,
        RunRecord,
        ToolBinding,
        ToolCall,
        ToolOutcome,
    )
    from handrail.workflows import options
    from handrail.workflows.calls import call_activity

# Versioning: runs recorded before decide heartbeated schedule it as they did (no heartbeat
# timeout); every run started since records this marker and schedules decide with
# DECIDE_HEARTBEAT_TIMEOUT. Asked once per run (the SDK memoizes it), at its first decide.
HEARTBEATS_PATCH = "heartbeats-v1"


async def load_profile(name: str, *, describe_tools: bool = False) -> Profile:
    return await call_activity(
        "load_profile",
        LoadProfileRequest(name=name, describe_tools=describe_tools),
        Profile,
        start_to_close_timeout=options.PROFILE_TIMEOUT,
        retry_policy=options.PROFILE_RETRY,
        summary=f"profile {name}",
    )


async def decide(request: DecideRequest, model: str) -> Decision:
    """The model call. It heartbeats (activities/llm.py), so a dead worker's call is retried
    elsewhere after the heartbeat timeout rather than the whole start-to-close."""
    heartbeats = workflow.patched(HEARTBEATS_PATCH)
    return await call_activity(
        "decide",
        request,
        Decision,
        start_to_close_timeout=options.DECIDE_TIMEOUT,
        heartbeat_timeout=options.DECIDE_HEARTBEAT_TIMEOUT if heartbeats else None,
        retry_policy=options.DECIDE_RETRY,
        summary=f"decide step {request.step + 1} ({model})",
    )


def tool_timeouts(binding: ToolBinding) -> tuple[timedelta, timedelta | None]:
    """A tool's start-to-close and heartbeat timeouts: today's defaults unless the tool declares
    its own (``@tool(timeout=..., heartbeat=...)``). A tool that may run longer than the default
    gets a heartbeat timeout, so a dead worker's attempt is retried after it, not after the
    tool's whole timeout."""
    default = options.READ_TOOL_TIMEOUT if binding.read_only else options.ACTION_TIMEOUT
    timeout = binding.timeout or default
    heartbeat = binding.heartbeat
    if heartbeat is None and timeout > default:
        heartbeat = options.TOOL_HEARTBEAT_TIMEOUT
    return timeout, heartbeat


async def run_tool(binding: ToolBinding, call: ToolCall, summary: str) -> ToolOutcome:
    """A tool's activity: its own name, or the activity serving it (an MCP server's). Reads run
    as local activities: short and idempotent, one round trip to the server less per step. A
    tool that heartbeats runs as a regular activity, a read too: local activities cannot.

    A binding that declares no timeout schedules exactly what it did before timeouts could be
    declared, so recorded runs replay without a patch."""
    activity = binding.activity or binding.name
    timeout, heartbeat = tool_timeouts(binding)
    if binding.read_only and heartbeat is None:
        return await call_activity(
            activity,
            call,
            ToolOutcome,
            local=True,
            start_to_close_timeout=timeout,
            retry_policy=options.READ_TOOL_RETRY,
            summary=summary,
        )
    return await call_activity(
        activity,
        call,
        ToolOutcome,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=options.READ_TOOL_RETRY if binding.read_only else options.ACTION_RETRY,
        summary=summary,
    )


async def compensate(name: str, request: CompensationRequest, summary: str) -> CompensationOutcome:
    """A compensation. Raises ``ActivityError`` when it fails for good: the saga records it and
    goes on undoing the rest."""
    result: CompensationOutcome = await workflow.execute_activity(
        name,
        request,
        result_type=CompensationOutcome,
        start_to_close_timeout=options.COMPENSATION_TIMEOUT,
        retry_policy=options.COMPENSATION_RETRY,
        summary=summary,
    )
    return result


async def notify_reviewers(notice: ReviewNotice, summary: str) -> NoticeResult:
    """Best effort: raises ``ActivityError`` when the notice cannot be delivered."""
    result: NoticeResult = await workflow.execute_activity(
        "notify_reviewers",
        notice,
        result_type=NoticeResult,
        start_to_close_timeout=options.NOTIFY_TIMEOUT,
        retry_policy=options.NOTIFY_RETRY,
        summary=summary,
    )
    return result


async def record_run(record: RunRecord) -> RecordedRun:
    """A local activity: its input, the whole trace, stays out of history. Raises
    ``ActivityError`` when it fails for good (the caller logs it; a task never fails for it)."""
    result: RecordedRun = await workflow.execute_local_activity(
        "record_run",
        record,
        result_type=RecordedRun,
        start_to_close_timeout=options.RECORD_TIMEOUT,
        retry_policy=options.RECORD_RETRY,
        summary="record run",
    )
    return result
