"""Retry-After is a floor under the retry policy's backoff, never a replacement for it.

A persistent 429 answered with ``Retry-After: 1`` used to be retried every second and fail the task
in ~8 s, while a 500 backed off for ~2 minutes. These tests pin the delay handed to Temporal: the
pure rule (attempt and policy passed in) and the real activity against the scripted HTTP server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import pytest_asyncio
from openai import AsyncOpenAI
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from examples.store.tools import STORE_TOOL_SPECS as STORE_TOOLS
from handrail.activities.conversation_store import ConversationStore
from handrail.activities.llm import LlmActivities
from handrail.activities.llm_errors import policy_backoff, retry_delay
from handrail.activities.openai_model import OpenAIChatModel
from handrail.contracts import DecideRequest, Opening
from handrail.errors import ErrorType
from handrail.testing.scripted_model import Fault, Scenario, ScriptedModelServer
from handrail.tools import ToolRegistry
from handrail.workflows.options import DECIDE_RETRY

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def _seconds(delay: timedelta | None) -> float | None:
    return None if delay is None else delay.total_seconds()


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [(1, 1), (2, 2), (3, 4), (4, 8), (6, 32), (7, 60), (8, 60), (10_000, 60)],
)
def test_policy_backoff_doubles_from_the_initial_interval_up_to_the_maximum(
    attempt: int, expected: float
) -> None:
    assert policy_backoff(attempt, DECIDE_RETRY).total_seconds() == expected


def test_policy_backoff_without_a_maximum_uses_temporals_default_of_100_initials() -> None:
    policy = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=3.0)
    assert policy_backoff(2, policy).total_seconds() == 1.5
    assert policy_backoff(50, policy).total_seconds() == 50


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        ("1", 1, 1),  # the policy's first backoff is 1 s too
        ("1", 4, 8),  # the header is a floor: attempt 4 still waits the policy's 8 s
        ("1", 8, 60),
        ("20", 2, 20),  # a longer Retry-After wins over the policy's 2 s
        ("0", 3, 4),
        ("0.5", 1, 1),
        ("3600", 1, 300),  # capped at five minutes
    ],
)
def test_retry_after_is_a_minimum_within_the_retry_policy(
    retry_after: str, attempt: int, expected: float
) -> None:
    delay = retry_delay(
        {"retry-after": retry_after}, attempt=attempt, retry_policy=DECIDE_RETRY, now=NOW
    )
    assert _seconds(delay) == expected


def test_without_a_known_policy_the_header_is_the_delay() -> None:
    delay = retry_delay({"retry-after": "7"}, attempt=4, retry_policy=None, now=NOW)
    assert _seconds(delay) == 7


@pytest.mark.parametrize("value", [None, "soon", "-3", "nan", "inf", ""])
def test_no_usable_header_leaves_the_backoff_to_temporal(value: str | None) -> None:
    headers = {} if value is None else {"retry-after": value}
    assert retry_delay(headers, attempt=4, retry_policy=DECIDE_RETRY, now=NOW) is None


def test_retry_after_as_an_http_date() -> None:
    in_90_seconds = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    delay = retry_delay({"retry-after": in_90_seconds}, attempt=1, retry_policy=None, now=NOW)
    assert _seconds(delay) == 90
    # The policy still sets the floor, and a date in the past means "no wait asked for".
    assert (
        _seconds(
            retry_delay(
                {"retry-after": in_90_seconds}, attempt=8, retry_policy=DECIDE_RETRY, now=NOW
            )
        )
        == 90
    )
    past = format_datetime(NOW - timedelta(minutes=1), usegmt=True)
    assert retry_delay({"retry-after": past}, attempt=1, retry_policy=None, now=NOW) is None


def test_retry_after_ms_is_read_as_openai_sends_it() -> None:
    # OpenAI's own client prefers ``retry-after-ms`` when both are present.
    headers = {"retry-after-ms": "2500", "retry-after": "9"}
    assert _seconds(retry_delay(headers, attempt=1, retry_policy=None, now=NOW)) == 2.5


# --- The real activity against the scripted HTTP server ----------------------------------------


@pytest_asyncio.fixture
async def activities(
    tmp_path: Path, model_server: ScriptedModelServer
) -> AsyncIterator[LlmActivities]:
    brain = model_server.brain
    client = AsyncOpenAI(base_url=model_server.base_url, api_key="x", max_retries=0, timeout=2)
    store = ConversationStore(tmp_path / "state.db")
    try:
        yield LlmActivities(OpenAIChatModel(client), store, ToolRegistry(STORE_TOOLS))
    finally:
        await client.close()
        await store.aclose()
        model_server.brain = brain  # the session's server is shared: leave it as found


def _attempt(attempt: int, policy: RetryPolicy | None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=attempt, retry_policy=policy)
    return env


async def _rate_limited(activities: LlmActivities, env: ActivityEnvironment) -> ApplicationError:
    request = DecideRequest(
        conversation_id="task-429/run-1",
        step=0,
        model="scripted",
        tools=["lookup_price"],
        opening=Opening(system_prompt="Be brief.", goal="Headlamp price?"),
    )
    with pytest.raises(ApplicationError) as raised:
        await env.run(activities.decide, request)
    assert raised.value.type == ErrorType.LLM_RATE_LIMITED
    assert not raised.value.non_retryable
    return raised.value


async def test_a_persistent_429_backs_off_like_any_other_failure(
    activities: LlmActivities, model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([Fault("rate_limited", retry_after="1")])

    fourth = await _rate_limited(activities, _attempt(4, DECIDE_RETRY))
    assert _seconds(fourth.next_retry_delay) == 8  # not 1: the policy's backoff for attempt 4
    assert "retry in 8s" in fourth.message

    first = await _rate_limited(activities, _attempt(1, DECIDE_RETRY))
    assert _seconds(first.next_retry_delay) == 1


async def test_a_long_retry_after_is_honoured_and_none_leaves_temporal_in_charge(
    activities: LlmActivities, model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([Fault("rate_limited", retry_after="30")])
    asked = await _rate_limited(activities, _attempt(2, DECIDE_RETRY))
    assert _seconds(asked.next_retry_delay) == 30

    model_server.brain = Scenario([Fault("rate_limited")])
    silent = await _rate_limited(activities, _attempt(2, DECIDE_RETRY))
    assert silent.next_retry_delay is None
