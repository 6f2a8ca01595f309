"""A local HTTP server that speaks the OpenAI Chat Completions protocol, replying from a script.

Handrail's model activity talks to its model through the real ``openai`` client. Mocking that
client would test the mock; this server instead lets the real client, its HTTP stack, its response
parsing and its error classification all run, while the *answers* come from plain Python. It is
shipped in the library (like pydantic-ai's ``TestModel``) so that users' tests and the demo that
runs without an API key use the same thing Handrail's own tests use.

A reply is decided by a *brain*: any callable from the parsed request body to a ``Reply``.
``Scenario`` replays a fixed list of replies; ``neutral_brain`` (the default) ends every task
with an answer saying that it is scripted; an app brings its own brain to play its
conversations in its demo (``handrail.runtime.app.AgentApp.brain``; see the repository's
examples).

Faults are injected one way, as ``Fault`` values (rate limits, 5xx, hangs, resets, bodies that are
not JSON, stopped or malformed replies, loops): a ``Fault`` in a ``Scenario`` strikes every
attempt of its step; ``FaultSchedule(brain, at={1: Fault("unavailable")})`` strikes chosen
requests, and ``FaultSchedule(brain, mix=FaultMix(seed, rates))`` a seeded random share::

    server.brain = FaultSchedule(my_brain, at={1: Fault("rate_limited", retry_after="0")})

The server is standard library only: a ``ThreadingHTTPServer`` in a daemon thread, on
``127.0.0.1`` and a free port by default::

    with ScriptedModelServer(Scenario([ToolCallReply("final_answer", {...})])) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
"""

from handrail.testing._faults import FaultMix, FaultSchedule
from handrail.testing._replies import (
    FAULT_KINDS,
    Brain,
    ErrorReply,
    Fault,
    FaultKind,
    FinishReason,
    RawReply,
    Reply,
    Scenario,
    TextReply,
    ToolCallReply,
    messages_of,
    offered_tools,
    text_of,
)
from handrail.testing._server import COMPLETIONS_PATH as COMPLETIONS_PATH
from handrail.testing._server import SCRIPTED_ANSWER, ScriptedModelServer, neutral_brain

__all__ = [
    "FAULT_KINDS",
    "SCRIPTED_ANSWER",
    "Brain",
    "ErrorReply",
    "Fault",
    "FaultKind",
    "FaultMix",
    "FaultSchedule",
    "FinishReason",
    "RawReply",
    "Reply",
    "Scenario",
    "ScriptedModelServer",
    "TextReply",
    "ToolCallReply",
    "messages_of",
    "neutral_brain",
    "offered_tools",
    "text_of",
]
