"""Ending a command-line process that used a Temporal client."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Exit without interpreter teardown, once all output is flushed.

    The Temporal client's Rust threads can abort a finalizing interpreter
    (temporalio/sdk-python#300: "PyGILState_Release: thread state must be current"), which turns
    a finished command into a core dump and a wrong exit status. Call this last, after every
    resource the command opened (servers, subprocesses) has been closed.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
