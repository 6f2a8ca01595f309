"""Running and ending a command-line process that used a Temporal client.

:func:`run_main` runs an entry point's coroutine so that SIGTERM (systemd, ``docker stop``,
``kill``) and SIGHUP (a closed terminal) end it the way Ctrl-C does: the coroutine is cancelled,
its ``async with`` blocks stop what they started (dev server, worker, model server), and only then
does the process go. Left to their default action those signals kill Python at once, and the dev
server, which runs in its own session so that Ctrl-C reaches us first, would be orphaned.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any, Final, NoReturn, TypeVar

T = TypeVar("T")

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGHUP)


class StopSignal(BaseException):
    """The process received one of :data:`STOP_SIGNALS`; everything it started has stopped.

    A ``BaseException``, like ``KeyboardInterrupt``, so that ``except Exception`` in between does
    not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _cancelled_on_signal(main: Coroutine[Any, Any, T]) -> T:
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        task.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await main
    except asyncio.CancelledError:
        if received:
            raise StopSignal(received[0]) from None
        raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, with SIGTERM and SIGHUP cancelling ``main`` as SIGINT does.

    Raises :class:`StopSignal` once ``main`` has unwound after such a signal (end the process
    with :func:`exit_by_signal`), and ``KeyboardInterrupt`` after Ctrl-C, as ``asyncio.run``
    does."""
    return asyncio.run(_cancelled_on_signal(main))


def _flush() -> None:
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()


def exit_now(code: int) -> NoReturn:
    """Exit without interpreter teardown, once all output is flushed.

    The Temporal client's Rust threads can abort a finalizing interpreter
    (temporalio/sdk-python#300: "PyGILState_Release: thread state must be current"), which turns
    a finished command into a core dump and a wrong exit status. Call this last, after every
    resource the command opened (servers, subprocesses) has been closed.
    """
    _flush()
    os._exit(code)


def exit_by_signal(signum: int) -> NoReturn:
    """End the process by ``signum`` with its default action, after cleaning up.

    Dying by the signal, rather than exiting with a code, tells the parent what happened:
    systemd counts death by SIGTERM as a clean stop, a shell reports it as 128 + signum."""
    _flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # not reached unless the signal is blocked
