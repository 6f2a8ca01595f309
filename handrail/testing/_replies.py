"""What a scripted model says: the replies, the brains that choose them, and how each reply
becomes the HTTP response body the openai client parses.

``ToolCallReply`` and ``TextReply`` are what a model says; ``ErrorReply`` and ``RawReply`` are
exact HTTP statuses and bodies; ``Fault`` names one of the failure classes Handrail must survive
(what goes on the wire for each is in ``handrail.testing._faults``). Standard library only, like
the server that sends them (``handrail.testing._server``). Users import these names from
``handrail.testing.scripted_model``.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, get_args

from handrail.names import OMITTED_STEPS_NOTE

FinishReason: TypeAlias = Literal["stop", "length", "tool_calls", "content_filter", "function_call"]


@dataclass(frozen=True)
class ToolCallReply:
    """The model calls one tool.

    ``arguments`` is sent as the JSON string OpenAI sends; a ``str`` is sent verbatim so that a
    test can hand the caller malformed JSON and check that it copes. ``finish_reason`` defaults
    to ``"tool_calls"``; ``"length"`` with cut-off ``arguments`` is what a token limit looks like.
    """

    name: str
    arguments: dict[str, Any] | str
    finish_reason: FinishReason = "tool_calls"
    logprobs: tuple[float, ...] | None = None
    """Token log-probabilities sent as ``choices[0].logprobs.content`` when the request asks
    for them (``logprobs: true``), as vLLM does; None: never sent, as OpenAI does for tool calls."""


@dataclass(frozen=True)
class TextReply:
    """Plain assistant content with no tool call (what a model does when it ignores the tools).

    ``finish_reason`` defaults to ``"stop"``; ``"content_filter"`` or ``"length"`` make the reply
    one that a provider stopped early.
    """

    content: str
    finish_reason: FinishReason = "stop"
    logprobs: tuple[float, ...] | None = None
    """As for ``ToolCallReply``: sent only to a request that asks for them."""


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error shaped like OpenAI's, so the client raises its real exception for ``status``.

    For the fault classes Handrail must survive (429, 500, 503) use ``Fault``; this is for an
    exact status, message or ``headers`` (sent as they are).
    """

    status: int
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RawReply:
    """A body sent byte for byte, e.g. the HTML page a proxy or gateway sends instead of JSON.

    ``status`` may be 200: a misconfigured proxy answering "OK" with a login page is exactly the
    case the caller has to notice. ``headers`` are sent as they are, after the content type.
    """

    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


FaultKind: TypeAlias = Literal[
    "rate_limited",
    "server_error",
    "unavailable",
    "hang",
    "reset",
    "not_json",
    "empty_choices",
    "content_filter",
    "length",
    "unknown_tool",
    "arguments_not_json",
    "arguments_off_schema",
    "plain_text",
    "tool_loop",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)


@dataclass(frozen=True)
class Fault:
    """One failure class of a model endpoint, the one way a test injects it.

    A ``Scenario`` may hold a fault at any step (every attempt of that step gets it: a persistent
    fault); a ``FaultSchedule`` gives it to chosen requests or a seeded random share of them (a
    transient one). The kinds, and what the server sends for each:

    - ``rate_limited``: HTTP 429, with ``Retry-After: <retry_after>`` when that is set;
    - ``server_error`` / ``unavailable``: HTTP 500 / 503;
    - ``hang``: no reply for ``seconds``, then the connection is closed (past any client timeout);
    - ``reset``: the connection is reset (TCP RST) without a reply;
    - ``not_json``: HTTP 200 with a proxy's HTML page;
    - ``empty_choices``: a completion whose ``choices`` is empty;
    - ``content_filter`` / ``length``: a text reply the provider stopped with that finish reason;
    - ``unknown_tool``: a call of ``tool`` (default ``delete_all_orders``), which is not offered;
    - ``arguments_not_json``: a call of ``tool`` whose arguments are cut-off JSON;
    - ``arguments_off_schema``: a call of ``tool`` without its required arguments;
    - ``plain_text``: a plain-text reply, no tool call;
    - ``tool_loop``: the conversation's last tool call again, verbatim (as a Scenario's last
      entry, or in a ``FaultMix``, the model never stops repeating it).

    For ``arguments_*`` the default ``tool`` is the first offered tool with required arguments.
    """

    kind: FaultKind
    retry_after: str | None = None
    """``rate_limited`` only: the ``Retry-After`` header's value (unset: no header)."""
    seconds: float = 600.0
    """``hang`` only: how long the server stays silent (by default past any activity timeout);
    stopping the server ends it early."""
    tool: str | None = None
    """``unknown_tool`` and ``arguments_*`` only: the tool the reply calls."""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.retry_after is not None and self.kind != "rate_limited":
            raise ValueError("retry_after is for rate_limited faults only")
        if self.tool is not None and self.kind not in _TOOL_FAULTS:
            raise ValueError(f"tool is for {', '.join(_TOOL_FAULTS)} faults only")
        if not self.seconds > 0:
            raise ValueError("a hang lasts a positive number of seconds")


_TOOL_FAULTS = ("unknown_tool", "arguments_not_json", "arguments_off_schema")

Reply: TypeAlias = ToolCallReply | TextReply | ErrorReply | RawReply | Fault
_REPLY_TYPES = (ToolCallReply, TextReply, ErrorReply, RawReply, Fault)


class Brain(Protocol):
    """Decides the reply to one request; ``request`` is the parsed JSON body.

    Called on the server's request threads, possibly concurrently: a brain should depend only on
    the request (which also keeps it deterministic when the caller retries).
    """

    def __call__(self, request: dict[str, Any]) -> Reply: ...


class Scenario:
    """A brain that replays ``replies`` in conversation order.

    The reply is ``replies[i]`` where ``i`` is the number of assistant messages already in the
    request: a function of the conversation, not of how many requests arrived. So a retried
    request (after a timeout or a worker crash) gets the same reply again, and one scenario
    serves any number of identical conversations. Past the end, the last reply repeats. An
    entry may be a callable, called with the request, to build a reply from what was sent.
    """

    def __init__(self, replies: Sequence[Reply | Callable[[dict[str, Any]], Reply]]) -> None:
        if not replies:
            raise ValueError("a Scenario needs at least one reply")
        self._replies = tuple(replies)

    def __call__(self, request: dict[str, Any]) -> Reply:
        messages = messages_of(request)
        step = sum(1 for message in messages if message.get("role") == "assistant")
        step += omitted_steps(messages)
        entry = self._replies[min(step, len(self._replies) - 1)]
        if isinstance(entry, _REPLY_TYPES):
            return entry
        return entry(request)


_OMITTED = re.compile(re.escape(OMITTED_STEPS_NOTE).replace(r"\{count\}", r"(\d+)"))


def omitted_steps(messages: list[dict[str, Any]]) -> int:
    """How many earlier steps the request leaves out (Handrail's note for ``context_steps``),
    so that a brain counting steps counts those too."""
    for message in messages[:4]:
        found = _OMITTED.fullmatch(str(message.get("content") or ""))
        if message.get("role") == "user" and found:
            return int(found.group(1))
    return 0


def messages_of(request: dict[str, Any]) -> list[dict[str, Any]]:
    messages = request.get("messages")
    if not isinstance(messages, list):
        return []
    return [message for message in messages if isinstance(message, dict)]


def offered_tools(request: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for tool in request.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            name = tool["function"].get("name")
            if isinstance(name, str):
                names.add(name)
    return names


def text_of(content: object) -> str:
    """A message's text: a plain string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _estimate_tokens(text: str) -> int:
    # About four characters a token for English: close enough for budgets and dashboards.
    return math.ceil(len(text) / 4)


def _prompttext_of(request: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in messages_of(request):
        parts.append(text_of(message.get("content")))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                parts.append(str(function.get("name", "")))
                parts.append(str(function.get("arguments", "")))
    tools = request.get("tools")
    if tools:
        parts.append(json.dumps(tools))
    return "".join(parts)


# --- Response bodies ------------------------------------------------------------------------------

# OpenAI's error ``type`` and ``code`` per status, so callers that read them see familiar values.
_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", "conflict"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "api_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _logprobs_body(
    request: dict[str, Any], reply: ToolCallReply | TextReply
) -> dict[str, Any] | None:
    if request.get("logprobs") is not True or reply.logprobs is None:
        return None
    tokens: list[dict[str, Any]] = [
        {"token": f"t{index}", "logprob": value, "bytes": None, "top_logprobs": []}
        for index, value in enumerate(reply.logprobs)
    ]
    return {"content": tokens, "refusal": None}


def completion_body(request: dict[str, Any], reply: ToolCallReply | TextReply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "refusal": None, "annotations": []}
    if isinstance(reply, ToolCallReply):
        arguments = (
            reply.arguments if isinstance(reply.arguments, str) else json.dumps(reply.arguments)
        )
        message["content"] = None
        message["tool_calls"] = [
            {
                "id": "call_" + uuid.uuid4().hex,
                "type": "function",
                "function": {"name": reply.name, "arguments": arguments},
            }
        ]
        completion_text = reply.name + arguments
    else:
        message["content"] = reply.content
        completion_text = reply.content
    prompt_tokens = _estimate_tokens(_prompttext_of(request))
    completion_tokens = _estimate_tokens(completion_text)
    model = request.get("model")
    return {
        "id": "chatcmpl-" + uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model if isinstance(model, str) else "scripted-model",
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "finish_reason": reply.finish_reason,
                "message": message,
                "logprobs": _logprobs_body(request, reply),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }
