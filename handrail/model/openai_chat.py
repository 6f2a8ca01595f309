"""``OpenAIChatModel``: the default model adapter, over the Chat Completions API.

OpenAI, Azure OpenAI's compatible endpoint, vLLM and Ollama by base URL. The client is built with
``max_retries=0``: Temporal's retry policy is the only retry loop, and the errors are classified
here (``llm_errors``), once.
"""

from __future__ import annotations

from typing import Any, cast

import openai
from openai import AsyncOpenAI
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageParam,
)
from temporalio import activity

from handrail.model.adapter import ModelReply, ModelRequest
from handrail.model.decision_parsing import CONTROL_TOOLS, parse_completion
from handrail.model.errors import classify_llm_error, read_completion


class OpenAIChatModel:
    """A ``ModelAdapter`` for any OpenAI-compatible Chat Completions endpoint.

    ``logprobs=True`` asks the endpoint for token log-probabilities, recorded on each decision
    as ``logprob_confidence`` beside the stated confidence (``stats`` calibrates both). Off by
    default: some endpoints refuse the parameter, and others (OpenAI's, for tool calls) return
    none. An endpoint that refuses it (400 or 422) gets the same request again without it, and
    this adapter stops asking (a warning says so): the task goes on, its decisions with no
    ``logprob_confidence``.
    """

    def __init__(self, client: AsyncOpenAI, *, logprobs: bool = False) -> None:
        self._client = client
        self.logprobs = logprobs
        """Whether requests ask for log-probabilities (turned off by an endpoint's refusal)."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        schemas: list[Any] = [spec.openai_schema() for spec in request.tools.values()]
        schemas += CONTROL_TOOLS
        info = activity.info()
        try:
            try:
                completion = await self._create(request, schemas, logprobs=self.logprobs)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                if not self.logprobs:
                    raise
                # Not a retry of a failure: the same request without an optional parameter
                # this endpoint does not take. A request bad for another reason fails again
                # below and is classified as before.
                completion = await self._create(request, schemas, logprobs=False)
                self.logprobs = False
                activity.logger.warning(
                    "the model endpoint refused logprobs (%s); asking without them from now on",
                    error.status_code,
                )
        except openai.OpenAIError as error:
            raise classify_llm_error(
                error, attempt=info.attempt, retry_policy=info.retry_policy
            ) from error
        decision, message = parse_completion(completion, request.tools)
        return ModelReply(decision=decision, message=message)

    async def _create(
        self, request: ModelRequest, schemas: list[Any], *, logprobs: bool
    ) -> ChatCompletion:
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
            logprobs=True if logprobs else openai.omit,
        )
        return read_completion(raw.parse, raw.http_response, secret=self._client.api_key)
