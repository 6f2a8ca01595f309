"""Tool arguments refuse control characters where they can do harm: a header injection in an
email subject or a NUL in a body never reaches the outbox, whether the model or a reviewer
proposes it."""

from __future__ import annotations

import sqlite3

import pytest
from pydantic import BaseModel, ValidationError

from examples.store.database import create_store
from examples.store.settings import store_db_path
from examples.store.tools import SendEmailArgs
from handrail.client.core import HandrailClient
from handrail.contracts import ToolBinding
from handrail.errors import ErrorType, ReviewRefusedError
from handrail.policy.gate import argument_problems
from handrail.policy.text_types import PlainText, SingleLine
from handrail.settings import HandrailSettings
from handrail.testing.scripted_model import Scenario, ScriptedModelServer, ToolCallReply
from tests.review_helpers import PROFILE, WHY, answer, refund, wait_for_pending

HOSTILE = ["Hi\r\nBcc: attacker@example.com", "a\x00b", "\x1b[2J", "bell\x07", "c1\x85"]


class _Texts(BaseModel):
    line: SingleLine = "ok"
    text: PlainText = "ok"


@pytest.mark.parametrize("value", HOSTILE)
def test_single_line_refuses_every_control_character(value: str) -> None:
    with pytest.raises(ValidationError, match="may not contain the control character"):
        _Texts(line=value)


@pytest.mark.parametrize("value", HOSTILE)
def test_plain_text_allows_line_breaks_and_tabs_only(value: str) -> None:
    if "\r\n" in value:
        value = value.replace("\r\n", "\x0c")  # \r\n itself is fine in a body
    with pytest.raises(ValidationError, match="may not contain the control character"):
        _Texts(text=value)
    assert _Texts(text="Dear customer,\r\n\tthank you.\n").text.endswith("\n")


def test_the_policy_refuses_them_from_the_schema_too() -> None:
    # A reviewer's edit is checked inside the workflow against the JSON schema alone.
    binding = ToolBinding(name="send_email", parameters=SendEmailArgs.model_json_schema())
    for value in HOSTILE:
        problems = argument_problems(binding, {"order_id": 1, "subject": value, "body": "b"})
        assert [p.split(":")[0] for p in problems] == ["subject"]
    assert argument_problems(binding, {"order_id": 1, "subject": "Über ☃", "body": "b\n"}) == []


def _outbox(settings: HandrailSettings) -> list[tuple[str, str]]:
    with sqlite3.connect(store_db_path(settings)) as db:
        return db.execute("SELECT subject, body FROM outbox").fetchall()


@pytest.mark.usefixtures("worker")
async def test_an_injected_header_never_reaches_the_outbox(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    create_store(store_db_path(settings))
    injected = {"order_id": 1001, "subject": HOSTILE[0], "body": "Refunded.", **WHY}
    nul_body = {"order_id": 1001, "subject": "Refund", "body": "Refunded\x00.", **WHY}
    model_server.brain = Scenario(
        [
            ToolCallReply("send_email", injected),
            ToolCallReply("send_email", nul_body),
            answer("I could not email you."),
        ]
    )
    handle = await handrail.start_task({"goal": "Email order 1001", "profile": PROFILE})
    result = await handrail.get_result(handle.id)
    assert result.status == "answered"
    problems = [step.decision.problem or "" for step in result.steps[:2]]
    assert "subject" in problems[0]
    assert "control character '\\r'" in problems[0]
    assert "control character '\\x00'" in problems[1]
    assert _outbox(settings) == []


@pytest.mark.usefixtures("worker")
async def test_a_reviewer_edit_cannot_inject_either(
    handrail: HandrailClient, model_server: ScriptedModelServer, settings: HandrailSettings
) -> None:
    create_store(store_db_path(settings))
    model_server.brain = Scenario([refund(1003, "80.00"), answer()])
    handle = await handrail.start_task({"goal": "Refund order 1003", "profile": PROFILE})
    await wait_for_pending(handrail, handle.id)
    edit = {"order_id": 1003, "amount": "80.00", "reason": "broken\x1b[2J"}
    with pytest.raises(ReviewRefusedError, match="reason") as refused:
        await handrail.review(
            handle.id, {"reviewer": "alice", "step": 1, "verdict": "edit", "arguments": edit}
        )
    assert refused.value.error_type == ErrorType.REVIEW_INVALID_EDIT
    await handrail.review(handle.id, {"reviewer": "alice", "step": 1, "verdict": "reject"})
    assert (await handrail.get_result(handle.id)).status == "rejected"
