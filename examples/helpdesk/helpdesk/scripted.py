"""The helpdesk's scripted model replies, for its tests: no key, no network, same decisions.

Feed them to ``handrail.testing.Scenario`` and give that to ``FunctionModel`` (in process) or
``ScriptedModelServer`` (over HTTP, for the OpenAI adapter). An entry may be a function of the
request, to answer from what the tools returned. Plain calls are ``handrail.testing.call``.
"""

from __future__ import annotations

import json
from typing import Any

from handrail.testing import ToolCallReply, call


def last_tool_result(request: dict[str, Any]) -> dict[str, Any]:
    """What the last tool answered, as the model read it."""
    content = [m["content"] for m in request["messages"] if m.get("role") == "tool"][-1]
    result: dict[str, Any] = json.loads(content)
    return result


def answer_from_lookup(request: dict[str, Any]) -> ToolCallReply:
    """A final answer built from the ticket the last ``lookup_ticket`` returned."""
    found = last_tool_result(request)
    text = f"#{found['ticket_id']} {found['title']}: {found['status']}"
    return call("final_answer", answer=text)
