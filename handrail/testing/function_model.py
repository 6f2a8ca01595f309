"""``FunctionModel``: a ``ModelAdapter`` that answers from plain Python, in process.

The same brains as the scripted HTTP server (``Scenario``, a function from the request body to a
``Reply``), without a server: the reply is turned into a real Chat Completions body and parsed by
the same code that parses OpenAI's, so decisions (including malformed ones) come out exactly as
they would over HTTP. ``ErrorReply`` raises the ``ApplicationError`` the OpenAI adapter would
raise for that status. For tests of error classification or the HTTP stack, use the server.
"""

from __future__ import annotations

from typing import Any

from openai.types.chat import ChatCompletion
from temporalio.exceptions import ApplicationError

from handrail.errors import ErrorType
from handrail.model.adapter import ModelReply, ModelRequest
from handrail.model.decision_parsing import CONTROL_TOOLS, parse_completion
from handrail.testing._replies import Brain, ErrorReply, TextReply, ToolCallReply, completion_body

# What the OpenAI adapter makes of a status: a request or key to fix is final, the rest retried.
_FINAL = {400: ErrorType.LLM_BAD_REQUEST, 401: ErrorType.LLM_AUTH, 403: ErrorType.LLM_AUTH}


class FunctionModel:
    """A model whose replies come from ``brain``; ``requests`` keeps every request body."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain
        self.requests: list[dict[str, Any]] = []

    async def complete(self, request: ModelRequest) -> ModelReply:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": request.messages,
            "tools": [spec.openai_schema() for spec in request.tools.values()] + CONTROL_TOOLS,
            "tool_choice": "required",
        }
        self.requests.append(body)
        reply = self.brain(body)
        if isinstance(reply, ErrorReply):
            final = _FINAL.get(reply.status)
            raise ApplicationError(
                f"model endpoint answered HTTP {reply.status}: {reply.message}",
                type=final or ErrorType.LLM_UNAVAILABLE,
                non_retryable=final is not None,
            )
        if not isinstance(reply, ToolCallReply | TextReply):
            raise TypeError(f"FunctionModel cannot send {type(reply).__name__} (use the server)")
        completion = ChatCompletion.model_validate(completion_body(body, reply))
        decision, message = parse_completion(completion, request.tools)
        return ModelReply(decision=decision, message=message)
