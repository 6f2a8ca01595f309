"""Faults on the wire and when they strike: what the server sends for each ``Fault`` kind, and
``FaultSchedule``, the brain that gives faults to chosen requests or to a seeded random share.

Standard library only, like the server (``handrail.testing._server``). Users import these names
from ``handrail.testing.scripted_model``.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handrail.testing._replies import (
    Brain,
    ErrorReply,
    Fault,
    RawReply,
    Reply,
    TextReply,
    ToolCallReply,
    completion_body,
    messages_of,
)

# What a gateway in front of a model sends when the model is down: a page, with status 200.
PROXY_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>Bad gateway</body></html>"
PLAIN_TEXT = "All done, everything is sorted out."
CUT_OFF_TEXT = "The answer to your question is"
UNKNOWN_TOOL = "delete_all_orders"
# What a model states about a faulty call: confident, so that only the fault can stop it.
_WHY = {"rationale": "scripted fault", "confidence": 0.99}
_CONTROL = ("final_answer", "escalate")


def wire_reply(
    fault: Fault, request: dict[str, Any]
) -> ToolCallReply | TextReply | ErrorReply | RawReply | None:
    """What the server sends for ``fault``; ``None`` for the transport faults (``hang``,
    ``reset``), which the server acts out itself. Raises ``ValueError`` when the fault cannot
    apply to ``request`` (a ``tool_loop`` with no tool call to repeat)."""
    kind = fault.kind
    if kind == "rate_limited":
        headers = {} if fault.retry_after is None else {"retry-after": fault.retry_after}
        return ErrorReply(429, "Rate limit reached (scripted fault)", headers)
    if kind == "server_error":
        return ErrorReply(500, "The server had an error (scripted fault)")
    if kind == "unavailable":
        return ErrorReply(503, "The engine is currently overloaded (scripted fault)")
    if kind == "not_json":
        return RawReply(200, PROXY_PAGE)
    if kind == "empty_choices":
        body = completion_body(request, TextReply(""))
        body["choices"] = []
        return RawReply(200, json.dumps(body).encode(), content_type="application/json")
    if kind == "content_filter":
        return TextReply("", finish_reason="content_filter")
    if kind == "length":
        return TextReply(CUT_OFF_TEXT, finish_reason="length")
    if kind == "unknown_tool":
        return ToolCallReply(fault.tool or UNKNOWN_TOOL, {"confirm": True, **_WHY})
    if kind == "arguments_not_json":
        return ToolCallReply(fault.tool or _tool_with_required(request), '{"order_id": 10')
    if kind == "arguments_off_schema":
        return ToolCallReply(fault.tool or _tool_with_required(request), dict(_WHY))
    if kind == "plain_text":
        return TextReply(PLAIN_TEXT)
    if kind == "tool_loop":
        last = _tool_calls(request)
        if not last:
            raise ValueError("a tool_loop fault needs an earlier tool call to repeat")
        name, arguments = last[-1]
        return ToolCallReply(name, arguments)
    return None  # hang, reset


def applies(fault: Fault, request: dict[str, Any]) -> bool:
    """Whether ``fault`` can strike ``request``: a loop needs a tool call to repeat."""
    return fault.kind != "tool_loop" or bool(_tool_calls(request))


def _tool_with_required(request: dict[str, Any]) -> str:
    for tool in request.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or function.get("name") in _CONTROL:
            continue
        required = set((function.get("parameters") or {}).get("required") or [])
        if required - set(_WHY):
            return str(function["name"])
    return "final_answer"  # its required answer is missing too


def _tool_calls(request: dict[str, Any]) -> list[tuple[str, str]]:
    """The conversation's tool calls, in order, as (name, arguments as sent)."""
    calls: list[tuple[str, str]] = []
    for message in messages_of(request):
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                calls.append((str(function.get("name")), str(function.get("arguments") or "")))
    return calls


def _looping(request: dict[str, Any]) -> bool:
    # A conversation whose last two tool calls are the same call is in a loop a tool_loop fault
    # started: it stays in it, statelessly, whichever worker or server instance is asked.
    calls = _tool_calls(request)
    return len(calls) >= 2 and calls[-1] == calls[-2]


def conversation_digest(request: dict[str, Any]) -> str:
    """A digest of what the request says, leaving out what changes from run to run (tool call
    ids), so that a seeded mix strikes the same requests in every run."""
    said = [
        [
            message.get("role"),
            message.get("content"),
            [call.get("function") for call in message.get("tool_calls") or []],
        ]
        for message in messages_of(request)
    ]
    return hashlib.sha256(json.dumps(said, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class FaultMix:
    """A seeded random share of faults: each request gets ``fault`` with probability
    ``rates[fault]`` (the rates add up to at most 1), else the brain's own reply.

    The draw is a function of the seed, the conversation so far and how often that same request
    was seen before, not of arrival order: concurrent tasks get the same faults in every run, and
    a retried request is a fresh draw (so a transient fault passes). A ``tool_loop`` drawn where a
    tool call came before never ends: the model repeats that call from then on.
    """

    seed: int
    rates: Mapping[Fault, float]

    def __post_init__(self) -> None:
        if any(not 0 <= rate <= 1 for rate in self.rates.values()):
            raise ValueError("a fault rate is a probability between 0 and 1")
        if sum(self.rates.values()) > 1 + 1e-9:
            raise ValueError("the fault rates add up to more than 1")

    def pick(self, request: dict[str, Any], occurrence: int) -> Fault | None:
        """The fault for ``request`` seen ``occurrence`` times before, or ``None``."""
        for fault in self.rates:
            if fault.kind == "tool_loop" and _looping(request):
                return fault
        draw = random.Random(f"{self.seed}:{conversation_digest(request)}:{occurrence}").random()
        for fault, rate in self.rates.items():
            if draw < rate:
                return fault if applies(fault, request) else None
            draw -= rate
        return None


@dataclass
class FaultSchedule:
    """A brain that answers with ``brain`` except where a fault strikes: request number ``n``
    (counted from 1, in arrival order, by this schedule) gets ``at[n]``; the others get what
    ``mix`` draws, if any. ``injected`` records (request number, fault) for every fault given.

    ``at`` is for a test that wants "two 503s, then the model": a transient fault, retried by
    Temporal. A fault in a ``Scenario`` instead strikes every attempt of its step.
    """

    brain: Brain
    at: Mapping[int, Fault] = field(default_factory=dict)
    mix: FaultMix | None = None
    injected: list[tuple[int, Fault]] = field(default_factory=list, init=False)
    _count: int = field(default=0, init=False, repr=False)
    _seen: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self._count += 1
            number = self._count
            fault = self.at.get(number)
            if fault is None and self.mix is not None:
                digest = conversation_digest(request)
                occurrence = self._seen.get(digest, 0)
                self._seen[digest] = occurrence + 1
                fault = self.mix.pick(request, occurrence)
            if fault is not None:
                self.injected.append((number, fault))
        return fault if fault is not None else self.brain(request)

    @property
    def requests(self) -> int:
        """How many requests this schedule has answered."""
        return self._count
