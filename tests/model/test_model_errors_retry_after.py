"""Retry-After is a minimum: it overrides the retry policy's backoff only when it asks for longer.

A persistent 429 answered with ``Retry-After: 1`` used to be retried every second and fail the task
in ~8 s, while a 500 backed off for ~2 minutes. Temporal's ``next_retry_delay`` replaces the
backoff, so it is set only when the provider asks for more than the policy waits; otherwise it is
None and Temporal's own backoff applies. These tests pin the delay handed to Temporal: the pure
rule (attempt and policy passed in) and the real activity against the scripted HTTP server.
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
from handrail.activities.llm import LlmActivities
from handrail.contracts import DecideRequest, Opening
from handrail.errors import ErrorType
from handrail.model.errors import retry_delay
from handrail.model.openai_chat import OpenAIChatModel
from handrail.storage.conversations import ConversationStore
from handrail.testing.scripted_model import Fault, Scenario, ScriptedModelServer
from handrail.tools import ToolRegistry
from handrail.workflows.options import DECIDE_RETRY

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


def _seconds(delay: timedelta | None) -> float | None:
    return None if delay is None else delay.total_seconds()


@pytest.mark.parametrize(
    ("retry_after", "attempt", "expected"),
    [
        # DECIDE_RETRY waits 1, 2, 4, 8, 16, 32, then 60 s (its maximum) after attempts 1, 2, ...
        ("1", 1, None),  # the policy waits as long: its own backoff applies
        ("1", 4, None),  # the header is a minimum: attempt 4 still waits the policy's 8 s
        ("1", 8, None),
        ("8", 4, None),
        ("9", 4, 9),  # longer than the policy's 8 s: the provider's wait
        ("20", 2, 20),
        ("59", 8, None),  # under the policy's maximum interval
        ("90", 8, 90),
        ("0", 3, None),
        ("0.5", 1, None),
        ("3600", 1, 300),  # capped at five minutes
    ],
)
def test_retry_after_overrides_the_policy_only_when_it_asks_for_longer(
    retry_after: str, attempt: int, expected: float | None
) -> None:
    delay = retry_delay(
        {"retry-after": retry_after}, attempt=attempt, retry_policy=DECIDE_RETRY, now=NOW
    )
    assert _seconds(delay) == expected


def test_a_policy_without_a_maximum_is_capped_at_temporals_default_of_100_initials() -> None:
    policy = RetryPolicy(initial_interval=timedelta(milliseconds=500), backoff_coefficient=3.0)
    # After attempt 2 it waits 1.5 s; after attempt 50, 50 s (100 x 0.5 s), not 3 ** 49 x 0.5 s.
    assert (
        _seconds(retry_delay({"retry-after": "1.5"}, attempt=2, retry_policy=policy, now=NOW))
        is None
    )
    assert _seconds(retry_delay({"retry-after": "2"}, attempt=2, retry_policy=policy, now=NOW)) == 2
    assert (
        _seconds(retry_delay({"retry-after": "51"}, attempt=50, retry_policy=policy, now=NOW)) == 51
    )
    assert retry_delay({"retry-after": "50"}, attempt=10_000, retry_policy=policy, now=NOW) is None


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
    # Longer than the policy's 60 s still wins; a date in the past means "no wait asked for".
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

    # No delay of ours: Temporal's backoff (8 s after attempt 4), not the header's 1 s.
    fourth = await _rate_limited(activities, _attempt(4, DECIDE_RETRY))
    assert fourth.next_retry_delay is None
    assert "retry in" not in fourth.message

    first = await _rate_limited(activities, _attempt(1, DECIDE_RETRY))
    assert first.next_retry_delay is None


async def test_a_long_retry_after_is_honoured_and_none_leaves_temporal_in_charge(
    activities: LlmActivities, model_server: ScriptedModelServer
) -> None:
    model_server.brain = Scenario([Fault("rate_limited", retry_after="30")])
    asked = await _rate_limited(activities, _attempt(2, DECIDE_RETRY))
    assert _seconds(asked.next_retry_delay) == 30
    assert "retry in 30s" in asked.message

    model_server.brain = Scenario([Fault("rate_limited")])
    silent = await _rate_limited(activities, _attempt(2, DECIDE_RETRY))
    assert silent.next_retry_delay is None
