"""The HTTP side of the scripted model: a ``ThreadingHTTPServer`` in a daemon thread that answers
``POST /v1/chat/completions`` with the reply its brain picks (see ``handrail.testing._replies``).

Users import ``ScriptedModelServer`` from ``handrail.testing.scripted_model``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

from handrail.testing._faults import wire_reply
from handrail.testing._replies import (
    Brain,
    ErrorReply,
    Fault,
    RawReply,
    Reply,
    TextReply,
    ToolCallReply,
    completion_body,
    error_body,
    messages_of,
    text_of,
)

COMPLETIONS_PATH = "/v1/chat/completions"
SCRIPTED_ANSWER = (
    "This answer comes from Handrail's scripted model: no model is configured "
    "(set OPENAI_API_KEY, or OPENAI_BASE_URL for another OpenAI-compatible endpoint)."
)


def neutral_brain(request: dict[str, Any]) -> Reply:
    """The server's default brain: it ends every task at once with ``SCRIPTED_ANSWER``, so a
    worker with no model configured runs and says why its answers say nothing. An app brings
    a brain of its own for its demo (``handrail.runtime.app.AgentApp.brain``)."""
    return ToolCallReply(
        "final_answer",
        {"answer": SCRIPTED_ANSWER, "rationale": "no model is configured", "confidence": 1.0},
    )


def _first_usertext_of(request: dict[str, Any]) -> str:
    for message in messages_of(request):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


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
            self._send_json(400, error_body(400, "the request body is not a JSON object"))
            return
        self.owner._record(request)
        if self.owner.latency > 0:
            self.owner._pause(self.owner.latency)
        try:
            reply: Reply | None = self.owner._brain_for(request)(request)
            if isinstance(reply, Fault):
                fault, reply = reply, wire_reply(reply, request)
                if reply is None:
                    self._act_out(fault)
                    return
        except Exception as error:
            message = f"the scripted brain raised {type(error).__name__}: {error}"
            self._send_json(500, error_body(500, message))
            return
        if isinstance(reply, ErrorReply):
            self._send_json(reply.status, error_body(reply.status, reply.message), reply.headers)
        elif isinstance(reply, RawReply):
            headers = {"content-type": reply.content_type, **reply.headers}
            self._send_bytes(reply.status, reply.body, headers)
        elif isinstance(reply, ToolCallReply | TextReply):
            self._send_json(200, completion_body(request, reply))
        else:
            message = f"the scripted brain returned {reply!r}, which is not a Reply"
            self._send_json(500, error_body(500, message))

    def _act_out(self, fault: Fault) -> None:
        """The transport faults: no HTTP reply at all."""
        if fault.kind == "hang":
            self.owner._pause(fault.seconds)
        else:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN: the client
            # sees "connection reset by peer", as when a load balancer drops a connection.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.close()

    def do_GET(self) -> None:
        self._send_not_found()

    def do_PUT(self) -> None:
        self._send_not_found()

    def do_PATCH(self) -> None:
        self._send_not_found()

    def do_DELETE(self) -> None:
        self._send_not_found()

    def _send_not_found(self) -> None:
        body = error_body(404, f"no route for {self.command} {self.path}")
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
    ``stop`` ends any ``latency`` or ``hang`` wait early, so a hanging reply never holds a test up.
    """

    def __init__(
        self,
        brain: Brain | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
    ) -> None:
        self.brain: Brain = brain or neutral_brain
        self.requests: list[dict[str, Any]] = []
        self.latency = latency
        self._host = host
        self._port = port
        self._routes: dict[str, Brain] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the port and serve in a daemon thread; returns once requests are accepted."""
        if self._server is not None:
            raise RuntimeError("the scripted model server is already running")
        self._stopping.clear()
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
        self._stopping.set()
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

    @contextlib.contextmanager
    def routed(self, brain: Brain, prefix: str = "task") -> Iterator[str]:
        """A fresh marker routed to ``brain`` while the block runs: use it as (or in) the goal of
        the tasks it should answer, so that tests sharing one server keep their conversations
        apart."""
        marker = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.route(marker, brain)
        try:
            yield marker
        finally:
            self.unroute(marker)

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

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

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
