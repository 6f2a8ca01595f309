"""Long benchmarks that say how far they are and keep what they measured when stopped.

A benchmark reports as it goes with :func:`progress_lines` (one line every
``BENCH_PROGRESS_SECONDS``, default 10) and tells the runner what it has measured so far with
``BenchEnv.so_far`` (a function returning rows). :class:`Stopper` runs one benchmark until it
finishes, the run's time budget (``BENCH_BUDGET_SECONDS`` or ``--budget``) runs out, or SIGTERM
or SIGINT arrives; a stopped benchmark is cancelled, so its ``async with`` blocks stop the
worker subprocesses and workers it started, and the runner then prints and writes the rows
``so_far`` gives, marked partial.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import replace
from typing import Any, TypeVar

from benchmarks.harness import Row

T = TypeVar("T")

PROGRESS_SECONDS = float(os.environ.get("BENCH_PROGRESS_SECONDS", "10"))
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def budget_from_env() -> float | None:
    """``BENCH_BUDGET_SECONDS`` for the whole run, if set (a positive number of seconds)."""
    text = os.environ.get("BENCH_BUDGET_SECONDS", "").strip()
    return float(text) if text else None


@asynccontextmanager
async def progress_lines(
    label: str, describe: Callable[[], Awaitable[str]], every: float = PROGRESS_SECONDS
) -> AsyncIterator[None]:
    """Prints ``[label] <elapsed> s: <describe()>`` every ``every`` seconds while the block
    runs. A line that cannot be made (a count query refused under load) says so and the
    benchmark goes on: progress is for the person watching, never a reason to fail."""
    began = time.monotonic()

    async def line() -> None:
        try:
            text = await describe()
        except Exception as error:  # any failure: say it, keep measuring
            text = f"(progress unavailable: {error!r})"
        print(f"   [{label}] {time.monotonic() - began:,.0f} s: {text}", flush=True)

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            await line()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


def mark_partial(rows: list[Row], why: str) -> list[Row]:
    """``rows`` flagged partial, each note saying why the benchmark did not finish."""
    return [
        replace(row, partial=True, note=f"PARTIAL ({why}); {row.note}" if row.note else why)
        for row in rows
    ]


class Stopper:
    """Stops the benchmark that is running on SIGTERM or SIGINT, or once ``budget`` seconds
    have passed since it was made; :attr:`reason` says which (``None`` while none has)."""

    def __init__(self, budget: float | None) -> None:
        self.reason: str | None = None
        self.signum: int | None = None
        self.failure = False
        self._deadline = None if budget is None else time.monotonic() + budget
        self._budget = budget
        self._stopping = asyncio.Event()

    @contextmanager
    def on_signals(self) -> Iterator[Stopper]:
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            yield self
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    def failed(self, reason: str) -> None:
        """A benchmark raised: the run stops there, as if stopped (its rows so far kept)."""
        self.failure = True
        self.reason = reason

    def _on_signal(self, signum: int) -> None:
        if self.reason is None:  # a second signal while stopping changes nothing
            self.signum = signum
            self.reason = f"stopped by {signal.Signals(signum).name}"
            print(f"\n-- {self.reason}: stopping, keeping what was measured", flush=True)
        self._stopping.set()

    async def run(self, benchmark: Coroutine[Any, Any, T]) -> T | None:
        """The benchmark's result, or ``None`` if it was stopped (then cancelled and unwound,
        so everything it started has stopped)."""
        if self.reason is not None:
            benchmark.close()
            return None
        task = asyncio.create_task(benchmark)
        stopping = asyncio.create_task(self._stopping.wait())
        timeout = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
        try:
            await asyncio.wait({task, stopping}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        if self.reason is None:
            self.reason = f"out of time (budget {self._budget:,.0f} s)"
            print(f"\n-- {self.reason}: stopping, keeping what was measured", flush=True)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        return None
