"""A throwaway PostgreSQL cluster for tests and benchmarks, from Debian's server binaries.

:func:`throwaway_postgres` starts a cluster in a temporary folder on a free loopback port (never
5432, never a shared socket folder) and yields its ``postgresql+psycopg://`` URL;
:func:`fresh_database` makes an empty database in it for one test or one measurement. The
cluster stops when the ``with`` block ends, however it ends, and when the process is sent
SIGTERM: ``pg_ctl`` detaches the server into its own session, so nothing else would stop it and
a killed test run would leave a server behind. :func:`throwaway_cluster` yields the cluster
itself, which a test can take down and bring back on the same port (a database outage).

Debian's ``postgresql`` package puts the binaries in ``/usr/lib/postgresql/<version>/bin``;
when they are absent, :class:`PostgresNotInstalledError` says which package to install.
``initdb`` refuses to run as root (CI's user), so as root the cluster runs as the ``postgres``
user the package creates.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Final

import psycopg
from sqlalchemy.engine import make_url

from handrail.errors import ConfigurationError

POSTGRES_ROOT: Final = Path("/usr/lib/postgresql")
"""Where Debian's ``postgresql`` package installs each server version's ``bin`` folder."""

APT_PACKAGE: Final = "postgresql"
DEFAULT_PORT: Final = 5432
_COMMAND_TIMEOUT: Final = 120.0
_START_ATTEMPTS: Final = 3  # another process may take the free port between probe and bind


class PostgresNotInstalledError(ConfigurationError):
    """No PostgreSQL server binaries on this machine (the message names the package)."""


def server_binaries() -> Path:
    """The newest installed server version's ``bin`` folder."""
    found = sorted(POSTGRES_ROOT.glob("*/bin/pg_ctl"), key=lambda p: _version(p.parent.parent))
    if not found:
        raise PostgresNotInstalledError(
            f"a throwaway PostgreSQL needs the server binaries under {POSTGRES_ROOT}/<version>/bin "
            f"(Debian/Ubuntu: apt-get install {APT_PACKAGE})"
        )
    return found[-1].parent


def _version(folder: Path) -> tuple[int, ...]:
    # "9.6" < "15" < "16": compare numerically, not as text.
    return tuple(int(part) for part in folder.name.split(".") if part.isdigit())


def _cluster_user() -> str:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresNotInstalledError(
            f"running as root, the throwaway PostgreSQL runs as the 'postgres' user, which "
            f"does not exist (apt-get install {APT_PACKAGE} creates it)"
        ) from None
    return "postgres"


def _run_as(user: str, command: list[str]) -> None:
    if os.geteuid() == 0:
        command = ["runuser", "-u", user, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=_COMMAND_TIMEOUT)


def _free_port() -> int:
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port != DEFAULT_PORT:  # never stand in for (or be mistaken for) a real server
            return port


class PostgresCluster:
    """One initialised cluster folder; started and stopped by ``pg_ctl``. :meth:`take_down` and
    :meth:`bring_back` make an outage: the server gone, then back on the same port."""

    def __init__(self, bin_dir: Path, user: str, folder: Path) -> None:
        self.bin_dir, self.user, self.folder = bin_dir, user, folder
        self.data = folder / "data"
        self.port = 0
        self._stopped = threading.Lock()  # taken once: by the ``with`` block or by a signal

    def _pg_ctl(self, *arguments: str) -> None:
        _run_as(self.user, [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *arguments])

    def init(self) -> None:
        initdb = [str(self.bin_dir / "initdb"), "-D", str(self.data), "-A", "trust"]
        _run_as(self.user, [*initdb, "-U", self.user])

    def start(self) -> None:
        for attempt in range(_START_ATTEMPTS):
            self.port = _free_port()
            try:
                self._start_on_port()
                return
            except subprocess.CalledProcessError:
                if attempt == _START_ATTEMPTS - 1:
                    raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}") from None

    def _start_on_port(self) -> None:
        # -k: the socket in our own folder, not /var/run/postgresql; fsync off: a cluster
        # thrown away at the end needs no durability, and tests run faster without it.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def take_down(self) -> None:
        """Stop the server as an operator's restart does (fast: open connections are cut)."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def bring_back(self) -> None:
        """Start the server again on the port it had: the same URL reaches it."""
        try:
            self._start_on_port()
        except subprocess.CalledProcessError:
            raise RuntimeError(f"PostgreSQL did not start again: {self.log_tail()}") from None

    def log_tail(self) -> str:
        try:
            return (self.folder / "log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no server log)"

    def stop(self, mode: str = "fast") -> None:
        """Stop the server, once (later calls do nothing)."""
        if not self._stopped.acquire(blocking=False):
            return
        # Failing means not running (it never started, or died): nothing to stop.
        with suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._pg_ctl("-m", mode, "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"


@contextmanager
def _stopped_on_sigterm(cluster: PostgresCluster) -> Iterator[None]:
    """While the block runs, SIGTERM stops the cluster first, then does what it did before.

    The earlier handler still runs (or, if there was none, the process still dies by the
    signal), so a worker's graceful shutdown or asyncio's own handler are kept. Python lets only
    the main thread install handlers: elsewhere the ``with`` block alone stops the cluster."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        cluster.stop("immediate")  # immediate: the process is going, and must not hang here
        shutil.rmtree(cluster.folder, ignore_errors=True)  # no ``finally`` runs after this
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        # Put back what was there, unless someone replaced our handler meanwhile.
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a throwaway PostgreSQL cluster; yield its URL (``postgresql+psycopg://``, database
    ``postgres``, no password over loopback); stop it and delete its files on exit.

    Raises :class:`PostgresNotInstalledError` when Debian's server binaries are absent."""
    with throwaway_cluster() as cluster:
        yield cluster.url


@contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """:func:`throwaway_postgres`, yielding the running cluster itself (its ``url``, and
    :meth:`~PostgresCluster.take_down` / :meth:`~PostgresCluster.bring_back` for outages)."""
    bin_dir, user = server_binaries(), _cluster_user()
    folder = Path(tempfile.mkdtemp(prefix="handrail-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, user=user, group=user)
        cluster = PostgresCluster(bin_dir, user, folder)
        cluster.init()
        with _stopped_on_sigterm(cluster):
            cluster.start()
            try:
                yield cluster
            finally:
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def libpq_url(url: str) -> str:
    """``url`` as psycopg itself takes it (no SQLAlchemy ``+driver`` suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str, *, prefix: str = "handrail_") -> Iterator[str]:
    """Create an empty database on the server of ``server_url``; yield its
    ``postgresql+psycopg://`` URL; drop it (closing any connection left) on exit."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield (
            make_url(server_url)
            .set(drivername="postgresql+psycopg", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
