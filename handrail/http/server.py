"""Running the app with uvicorn: ``serve`` until a stop signal (the CLI), ``running_server``
for the duration of a block on a socket the caller chose (tests, the demo)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any, Final

import uvicorn
from fastapi import FastAPI

SHUTDOWN_GRACE_SECONDS: Final = 5
"""How long ``running_server`` lets open requests finish when its block ends."""


def _config(app: FastAPI, *, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        # Handrail's own logging setup stays in charge; uvicorn's access lines (method, path,
        # status: never a header, so never a token) come only when asked for.
        log_config=None,
        access_log=access_log,
        # X-Forwarded-* are trusted from loopback only (uvicorn's default): a TLS proxy on
        # the same host, as docs/deploy.md describes.
        proxy_headers=True,
        # The app's lifespan closes what it holds (the state database's pool) at shutdown.
        lifespan="on",
    )


class _Server(uvicorn.Server):
    """A uvicorn server that says when it listens, and handles signals only when asked (the
    CLI); under pytest or inside the demo, their host handles them."""

    def __init__(self, config: uvicorn.Config, *, signals: bool) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self._signals = signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if not self._signals:
            yield
            return
        with super().capture_signals():
            yield


async def _started(server: _Server, task: asyncio.Future[None]) -> bool:
    """Wait until ``server`` listens (True) or stopped first (False)."""
    ready: asyncio.Future[Any] = asyncio.ensure_future(server.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    return server.ready.is_set()


async def serve(
    app: FastAPI,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], None] | None = None,
    access_log: bool = False,
) -> None:
    """Serve ``app`` until SIGTERM or Ctrl-C, which uvicorn turns into a graceful shutdown
    (open requests finish) before passing the signal on to the process."""
    config = _config(app, access_log=access_log)
    config.host, config.port = host, port
    server = _Server(config, signals=True)
    task = asyncio.ensure_future(server.serve())
    if await _started(server, task) and on_ready is not None:
        on_ready(_url(server))
    await task
    if not server.started:
        raise OSError(f"could not listen on {host}:{port} (in use, or not an address here)")


@contextlib.asynccontextmanager
async def running_server(
    app: FastAPI, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """``app`` served on ``host:port`` (0: a free port) for the block; yields its base URL."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    config = _config(app, access_log=False)
    # A request still waiting (an update nobody takes) must not hold the block's exit forever.
    config.timeout_graceful_shutdown = SHUTDOWN_GRACE_SECONDS
    server = _Server(config, signals=False)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        if not await _started(server, task):
            task.result()  # raises what stopped it
            raise OSError("the HTTP server stopped while starting")
        yield _url(server)
    finally:
        server.should_exit = True
        await task
        sock.close()


def _url(server: uvicorn.Server) -> str:
    bound = server.servers[0].sockets[0].getsockname()
    host = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return f"http://{host}:{bound[1]}"
