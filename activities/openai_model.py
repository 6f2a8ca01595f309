"""``OpenAIChatModel``: the default model adapter, over the Chat Completions API.

OpenAI, Azure OpenAI's compatible endpoint, vLLM and Ollama by base URL. The client is built with
``max_retries=0``: Temporal's retry policy is the only retry loop, and the errors are classified
here (``llm_errors``), once.
"""

from __future__ import annotations

from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionFunctionToolParam, ChatCompletionMessageParam
from temporalio import activity

from handrail.activities.decision_parsing import CONTROL_TOOLS, parse_completion
from handrail.activities.llm_errors import classify_llm_error, read_completion
from handrail.model import ModelReply, ModelRequest


class OpenAIChatModel:
    """A ``ModelAdapter`` for any OpenAI-compatible Chat Completions endpoint."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    async def complete(self, request: ModelRequest) -> ModelReply:
        schemas: list[Any] = [spec.openai_schema() for spec in request.tools.values()]
        schemas += CONTROL_TOOLS
        info = activity.info()
        try:
            # The raw response, so that a body which is not a completion (a proxy's HTML page)
            # can be reported with its status and content type instead of crashing the parse.
            raw = await self._client.chat.completions.with_raw_response.create(
                model=request.model,
                # Plain dicts already in the API's shape (they round-trip through the store).
                messages=cast("list[ChatCompletionMessageParam]", request.messages),
                tools=cast("list[ChatCompletionFunctionToolParam]", schemas),
                # Every reply is a structured decision (a tool, final_answer or escalate), so
                # confidence and rationale always have a place to go.
                tool_choice="required",
            )
        except openai.OpenAIError as error:
            raise classify_llm_error(
                error, attempt=info.attempt, retry_policy=info.retry_policy
            ) from error
        completion = read_completion(raw.parse, raw.http_response, secret=self._client.api_key)
        decision, message = parse_completion(completion, request.tools)
        return ModelReply(decision=decision, message=message)
