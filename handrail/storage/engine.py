"""Handrail's state database: one URL, SQLite by default, PostgreSQL in production.

A :class:`StateDatabase` owns the SQLAlchemy engines for one URL (``HANDRAIL_STATE_URL``) and
brings the schema to the newest Alembic revision the first time anything uses it, so a worker
that starts on an older schema upgrades it in place. Every store speaks SQLAlchemy Core through
it: the same statements on both databases, where the two differ only in the driver, and in a
few lines here (SQLite's pragmas and how it begins a transaction).

Two engines share the URL. The hot path (effect journal, conversations) is async: ``aiosqlite``
or ``psycopg`` in async mode, pooled. The run ledger and the autonomy audit are read by
synchronous code (``stats``, ``export``, ``promote``), so they use the sync engine of the same
URL (``pysqlite`` or ``psycopg``), with a connection per session as before (no pool to close).

URLs carry passwords: only :attr:`StateDatabase.redacted` ever reaches a message or a log.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, Self, TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from handrail.errors import ConfigurationError
from handrail.storage.outage import Outages
from handrail.storage.sqlite import BEGIN_OPTION, BUSY_TIMEOUT_MS, sqlite_events

T = TypeVar("T")

STATE_BUSY_TIMEOUT_MS: Final = 5_000
"""The same, for the state store's transactions inside activities (journal, reservations,
conversations, autonomy levels). Shorter than the shortest activity timeout (10 s): a lock held
longer by another process fails the attempt with a line in the log saying so, and Temporal
retries it, instead of the attempt timing out silently with its thread still waiting."""

PG_CONNECT_TIMEOUT_S: Final = 5
"""How long a PostgreSQL connection attempt may take (unless the URL says): a host that drops
packets fails an attempt in seconds, not after the operating system's minutes."""

_ASYNC_DRIVERS: Final = {"sqlite": "aiosqlite", "postgresql": "psycopg"}
_SYNC_DRIVERS: Final = {"sqlite": "pysqlite", "postgresql": "psycopg"}


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a file (the default state URL is this of ``handrail.db``)."""
    return f"sqlite+aiosqlite:///{path}"


def redact(url: str) -> str:
    """``url`` with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: say nothing of it
        return "<unparsable state URL>"


def _with_driver(url: URL, drivers: dict[str, str], setting: str) -> URL:
    backend = url.get_backend_name()
    if backend not in drivers:
        raise ConfigurationError(
            f"{setting} must be a sqlite or postgresql URL, not {backend!r} "
            f"({redact(url.render_as_string(hide_password=False))})"
        )
    return url.set(drivername=f"{backend}+{drivers[backend]}")


class Database:
    """Engines for one SQLite or PostgreSQL URL, and transactions on a worker thread: what
    Handrail's state store stands on, for your tools' own database too (the store example's is
    one). ``run`` executes a function of a SQLAlchemy ``Connection`` in one transaction off the
    event loop; ``insert`` gives the dialect's upsert-capable INSERT; ``aclose`` closes the pool.

    ``setting`` names where the URL came from, for errors (``HANDRAIL_STATE_URL``)."""

    def __init__(
        self,
        url: str,
        *,
        setting: str = "HANDRAIL_STATE_URL",
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigurationError(
                f"{setting} is not a database URL (expected sqlite:///PATH or "
                "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB)"
            ) from None
        self._busy_timeout_ms = busy_timeout_ms
        self._async_url = _with_driver(parsed, _ASYNC_DRIVERS, setting)
        self._sync_url = _with_driver(parsed, _SYNC_DRIVERS, setting)
        self.dialect: Final[str] = parsed.get_backend_name()
        self.redacted: Final[str] = redact(url)
        """The URL without its password: the only form of it that may be shown."""
        self.sqlite_path: Final[Path | None] = (
            Path(parsed.database) if self.dialect == "sqlite" and parsed.database else None
        )
        """The SQLite file, if this is one (``None`` for PostgreSQL or in-memory SQLite)."""
        self._async_engine: AsyncEngine | None = None
        self._sync_engine: Engine | None = None
        self._pooled: Engine | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.redacted!r})"

    @classmethod
    def of(cls, target: str | Path | Self) -> Self:
        """A database from a URL, a SQLite file's path, or itself."""
        if isinstance(target, cls):
            return target
        if isinstance(target, Path):
            return cls(sqlite_url(target))
        if isinstance(target, str):
            return cls(target)
        raise TypeError(f"{cls.__name__}.of: a URL or a path, not {target!r}")

    def _connect_options(self) -> dict[str, Any]:
        """On PostgreSQL, a deadline for each connection attempt (unless the URL sets one)."""
        if self.dialect != "postgresql" or "connect_timeout" in self._sync_url.query:
            return {}
        return {"connect_args": {"connect_timeout": PG_CONNECT_TIMEOUT_S}}

    def _pool_options(self) -> dict[str, Any]:
        """A pool that outlives a database restart: on PostgreSQL each connection is checked
        (``pool_pre_ping``, one round trip) as it is taken, so the connections a restart cut are
        replaced instead of failing the next transaction."""
        if self.dialect != "postgresql":
            return {}
        return {"pool_pre_ping": True, **self._connect_options()}

    def _prepare_file(self) -> None:
        if self.sqlite_path is not None:
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def sync_engine(self) -> Engine:
        """The synchronous engine (ledger, audit, migrations): a connection per session."""
        if self._sync_engine is None:
            self._prepare_file()
            engine = create_engine(self._sync_url, poolclass=NullPool, **self._connect_options())
            if self.dialect == "sqlite":
                sqlite_events(engine)
            self._sync_engine = engine
        return self._sync_engine

    @property
    def async_engine(self) -> AsyncEngine:
        """The asynchronous engine (journal, conversations), pooled: close it with
        :meth:`aclose`."""
        if self._async_engine is None:
            self._prepare_file()
            engine = create_async_engine(self._async_url, **self._pool_options())
            if self.dialect == "sqlite":
                sqlite_events(engine.sync_engine, self._busy_timeout_ms)
            self._async_engine = engine
        return self._async_engine

    def insert(self, table: Any) -> Any:
        """An INSERT for this dialect, with ``on_conflict_do_nothing`` / ``_do_update`` (the
        same API on SQLite and PostgreSQL)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    async def run(self, work: Callable[[Connection], T], *, immediate: bool = False) -> T:
        """Run ``work`` in one transaction on a worker thread (committed if it returns, rolled
        back if it raises); ``immediate`` takes SQLite's write lock first.

        The journal and the conversation store sit on every step's path: one thread hop for a
        whole transaction costs a fraction of an async driver's hop per statement (measured in
        docs/benchmarks.md, "State store")."""
        return await asyncio.to_thread(self._run, work, immediate)

    def _run(self, work: Callable[[Connection], T], immediate: bool) -> T:
        with self._lock:
            if self._pooled is None:  # pooled: a step's transactions reuse their connections
                self._prepare_file()
                self._pooled = create_engine(self._sync_url, **self._pool_options())
                if self.dialect == "sqlite":
                    sqlite_events(self._pooled, self._busy_timeout_ms)
            engine = self._pooled
        if immediate:
            engine = engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})
        with engine.begin() as connection:
            return work(connection)

    # --- closing ----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pooled connections (the engines open new ones if used again)."""
        if self._async_engine is not None:
            await self._async_engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        if self._pooled is not None:
            self._pooled.dispose()
            self._pooled = None


class StateDatabase(Database):
    """Handrail's state database: its schema is brought up to date once per process, before
    the first transaction."""

    def __init__(self, url: str) -> None:
        super().__init__(url, busy_timeout_ms=STATE_BUSY_TIMEOUT_MS)
        self.outages: Final = Outages(self.redacted, self.dialect)
        """This database's outages as this process sees them (``handrail.storage.outage``)."""
        self._upgraded = False
        self._upgrade_lock = threading.Lock()

    def upgrade(self) -> None:
        """Bring the schema to the newest revision, once per process (blocking)."""
        with self._upgrade_lock:
            if self._upgraded:
                return
            from handrail.storage.migrate import upgrade  # alembic loads only when needed

            upgrade(self.sync_engine)
            self._upgraded = True

    async def ready(self) -> None:
        """:meth:`upgrade` from async code, off the event loop (in an activity, a database
        that is away fails it retryably, as :meth:`run` does)."""
        if not self._upgraded:
            async with self.outages.waiting():
                await asyncio.to_thread(self.upgrade)

    async def run(self, work: Callable[[Connection], T], *, immediate: bool = False) -> T:
        """As :meth:`Database.run`; inside an activity, a database that is away (unreachable,
        restarting, locked by another process) fails the attempt retryably with one log line
        naming it (``handrail.storage.outage``), and Temporal retries until it is back."""
        async with self.outages.waiting():
            await self.ready()
            return await super().run(work, immediate=immediate)
