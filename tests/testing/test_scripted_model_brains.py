"""The scripted model's brains, called directly: Scenario's conversation order and the neutral
default brain (an example's own brains are tested with the example: examples/store/tests)."""

from __future__ import annotations

from typing import Any

import pytest

from handrail.testing.scripted_model import (
    SCRIPTED_ANSWER,
    Fault,
    Reply,
    Scenario,
    TextReply,
    ToolCallReply,
    neutral_brain,
)

USER = {"role": "user", "content": "How much are the Trail Runner Shoes?"}


# --- Scenario -----------------------------------------------------------------------------------


def conversation(assistant_turns: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [USER]
    for turn in range(assistant_turns):
        messages.append({"role": "assistant", "content": f"turn {turn}"})
        messages.append({"role": "user", "content": "go on"})
    return {"messages": messages}


def test_scenario_indexes_by_assistant_messages_and_repeats_the_last() -> None:
    first, second, third = TextReply("one"), TextReply("two"), Fault("unavailable")
    scenario = Scenario([first, second, third])

    assert scenario(conversation(0)) is first
    assert scenario(conversation(1)) is second
    assert scenario(conversation(2)) is third
    assert scenario(conversation(7)) is third
    # The same conversation again (a retry) gets the same reply, whatever came in between.
    assert scenario(conversation(1)) is second


def test_scenario_calls_callable_entries_with_the_request() -> None:
    seen: list[dict[str, Any]] = []

    def echo(request: dict[str, Any]) -> Reply:
        seen.append(request)
        return TextReply(request["messages"][-1]["content"])

    scenario = Scenario([TextReply("opening"), echo])

    assert scenario(conversation(1)) == TextReply("go on")
    assert seen == [conversation(1)]


def test_scenario_needs_a_reply() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Scenario([])


# --- The default brain --------------------------------------------------------------------------


def test_the_default_brain_answers_any_goal_saying_it_is_scripted() -> None:
    requests: list[dict[str, Any]] = [conversation(0), conversation(3), {"messages": []}]
    for request in requests:
        reply = neutral_brain(request)
        assert isinstance(reply, ToolCallReply)
        assert reply.name == "final_answer"
        assert isinstance(reply.arguments, dict)
        assert reply.arguments["answer"] == SCRIPTED_ANSWER
        assert "OPENAI_API_KEY" in SCRIPTED_ANSWER
