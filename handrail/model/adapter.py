"""The model interface: how the ``decide`` activity asks a model for the next step.

A provider plugs in by implementing ``ModelAdapter.complete``; the ``decide`` activity keeps the
conversation (outside history), the tool list and the logging, and never changes. The bundled
adapter is ``handrail.model.openai_chat.OpenAIChatModel`` (OpenAI, Azure, vLLM, Ollama by
base URL); ``handrail.testing.FunctionModel`` answers from plain Python in-process.

Messages are in the Chat Completions shape (``{"role": ..., "content": ...}``, ``tool_calls``,
``tool`` replies): the conversation store keeps them so, and an adapter for another API converts
them. Errors are classified in the adapter: raise ``ApplicationError`` with ``non_retryable``
for what a retry cannot fix, and let Temporal retry the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from handrail.contracts import Decision
from handrail.tools.spec import ToolSpec

Message = dict[str, Any]


@dataclass(frozen=True)
class ModelRequest:
    """One call: the conversation so far and the tools the model may call."""

    model: str
    """The model name the profile (or the default setting) chose."""
    messages: list[Message]
    tools: Mapping[str, ToolSpec]
    """The profile's tools by name; ``final_answer`` and ``escalate`` are always offered too."""


@dataclass(frozen=True)
class ModelReply:
    """The model's decision and the assistant message the conversation keeps.

    An adapter whose endpoint returns token log-probabilities may set the decision's
    ``logprob_confidence`` (the reply's mean token probability, as ``OpenAIChatModel`` does
    with ``logprobs=True``), which the ledger keeps beside the stated confidence for ``stats``
    to calibrate both; the gate never reads it.
    """

    decision: Decision
    message: Message


class ModelAdapter(Protocol):
    """A model provider."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        """The next decision. Raise ``temporalio.exceptions.ApplicationError`` for failures
        (``non_retryable=True`` for those a retry cannot fix); never retry inside."""
        ...
