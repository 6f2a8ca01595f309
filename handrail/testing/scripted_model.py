"""A local HTTP server that speaks the OpenAI Chat Completions protocol, replying from a script.

Handrail's model activity talks to its model through the real ``openai`` client. Mocking that
client would test the mock; this server instead lets the real client, its HTTP stack, its response
parsing and its error classification all run, while the *answers* come from plain Python. It is
shipped in the library (like pydantic-ai's ``TestModel``) so that users' tests and the demo that
runs without an API key use the same thing Handrail's own tests use.

A reply is decided by a *brain*: any callable from the parsed request body to a ``Reply``.
``Scenario`` replays a fixed list of replies; ``handrail.testing.store_clerk.StoreClerk`` (the
default) runs the demo store's conversations.

The server is standard library only: a ``ThreadingHTTPServer`` in a daemon thread, on
``127.0.0.1`` and a free port by default::

    with ScriptedModelServer(Scenario([ToolCallReply("final_answer", {...})])) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0)
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeAlias, cast

__all__ = [
    "Brain",
    "ErrorReply",
    "FinishReason",
    "RawReply",
    "Reply",
    "Scenario",
    "ScriptedModelServer",
    "TextReply",
    "ToolCallReply",
    "messages_of",
    "offered_tools",
    "text_of",
]

COMPLETIONS_PATH = "/v1/chat/completions"

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


@dataclass(frozen=True)
class TextReply:
    """Plain assistant content with no tool call (what a model does when it ignores the tools).

    ``finish_reason`` defaults to ``"stop"``; ``"content_filter"`` or ``"length"`` make the reply
    one that a provider stopped early.
    """

    content: str
    finish_reason: FinishReason = "stop"


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error shaped like OpenAI's, so the client raises its real exception for ``status``.

    ``headers`` are sent as they are, e.g. ``{"retry-after": "0"}`` to test back-off handling.
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


Reply: TypeAlias = ToolCallReply | TextReply | ErrorReply | RawReply
_REPLY_TYPES = (ToolCallReply, TextReply, ErrorReply, RawReply)


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
        step = sum(1 for message in messages_of(request) if message.get("role") == "assistant")
        entry = self._replies[min(step, len(self._replies) - 1)]
        if isinstance(entry, _REPLY_TYPES):
            return entry
        return entry(request)


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


def _first_usertext_of(request: dict[str, Any]) -> str:
    for message in messages_of(request):
        if message.get("role") == "user":
            return text_of(message.get("content"))
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


# --- The HTTP server ----------------------------------------------------------------------------

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


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_KINDS.get(status, ("server_error" if status >= 500 else "api_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _completion_body(request: dict[str, Any], reply: ToolCallReply | TextReply) -> dict[str, Any]:
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
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _HTTPServer(ThreadingHTTPServer):
    """Tracks open connections so that ``stop`` can close idle keep-alive ones and join."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], owner: ScriptedModelServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake the handler threads blocked reading from idle keep-alive connections."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-reply (or ``stop`` closing a connection) is not an error
        # worth a traceback on stderr in the middle of a test run.
        pass


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as the openai client's pool expects.
    protocol_version = "HTTP/1.1"
    server_version = "ScriptedModel/1.0"
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 30
    # Headers and body leave in two writes; with Nagle's algorithm on, the second waits for the
    # client's delayed ACK, adding ~40 ms to every reply: a "zero-latency" model that was not.
    disable_nagle_algorithm = True

    @property
    def owner(self) -> ScriptedModelServer:
        return cast(_HTTPServer, self.server).owner

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr would drown the test output

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self.path.split("?", 1)[0] != COMPLETIONS_PATH:
            self._send_not_found()
            return
        try:
            request = json.loads(raw)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._send_json(400, _error_body(400, "the request body is not a JSON object"))
            return
        self.owner._record(request)
        if self.owner.latency > 0:
            time.sleep(self.owner.latency)
        try:
            reply = self.owner._brain_for(request)(request)
        except Exception as error:
            message = f"the scripted brain raised {type(error).__name__}: {error}"
            self._send_json(500, _error_body(500, message))
            return
        if isinstance(reply, ErrorReply):
            self._send_json(reply.status, _error_body(reply.status, reply.message), reply.headers)
        elif isinstance(reply, RawReply):
            headers = {"content-type": reply.content_type, **reply.headers}
            self._send_bytes(reply.status, reply.body, headers)
        elif isinstance(reply, ToolCallReply | TextReply):
            self._send_json(200, _completion_body(request, reply))
        else:
            message = f"the scripted brain returned {reply!r}, which is not a Reply"
            self._send_json(500, _error_body(500, message))

    def do_GET(self) -> None:
        self._send_not_found()

    def do_PUT(self) -> None:
        self._send_not_found()

    def do_PATCH(self) -> None:
        self._send_not_found()

    def do_DELETE(self) -> None:
        self._send_not_found()

    def _send_not_found(self) -> None:
        body = _error_body(404, f"no route for {self.command} {self.path}")
        self._send_json(404, body)

    def _send_json(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._send_bytes(
            status,
            json.dumps(body).encode(),
            {"content-type": "application/json", **(headers or {})},
        )

    def _send_bytes(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class ScriptedModelServer:
    """An OpenAI-compatible endpoint on a local port whose replies come from ``brain``.

    ``brain`` may be swapped at any time; ``route`` lets concurrent tests share one server by
    giving each its own brain, chosen by a marker in the conversation's first user message.
    ``requests`` records every chat completion request body, in arrival order, so a test can
    check what the caller really sent. ``latency`` (seconds) is slept before each reply.
    """

    def __init__(
        self,
        brain: Brain | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        if brain is None:
            # Imported here: the clerk is built on this module's reply types.
            from handrail.testing.store_clerk import StoreClerk

            brain = StoreClerk()
        self.brain: Brain = brain
        self.requests: list[dict[str, Any]] = []
        self.latency = latency
        self._host = host
        self._port = port
        self._routes: dict[str, Brain] = {}
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the port and serve in a daemon thread; returns once requests are accepted."""
        if self._server is not None:
            raise RuntimeError("the scripted model server is already running")
        server = _HTTPServer((self._host, self._port), self)
        port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"scripted-model-server:{port}",
            daemon=True,
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        """Stop serving, close open connections, free the port and join every thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        thread.join()
        server.close_connections()
        server.server_close()  # also joins the request threads

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the openai client, e.g. ``http://127.0.0.1:PORT/v1``."""
        if self._server is None:
            raise RuntimeError("the scripted model server is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def route(self, marker: str, brain: Brain) -> None:
        """Answer with ``brain`` the conversations whose first user message contains ``marker``.

        Routes are tried in the order they were added; ``self.brain`` answers the rest.
        """
        if not marker:
            raise ValueError("a route needs a non-empty marker")
        with self._lock:
            self._routes[marker] = brain

    def unroute(self, marker: str) -> None:
        """Remove the route for ``marker``; removing one that does not exist does nothing."""
        with self._lock:
            self._routes.pop(marker, None)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def _brain_for(self, request: dict[str, Any]) -> Brain:
        with self._lock:
            routes = list(self._routes.items())
        if routes:
            first = _first_usertext_of(request)
            for marker, brain in routes:
                if marker in first:
                    return brain
        return self.brain
