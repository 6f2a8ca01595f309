"""``handrail-worker`` / ``python worker.py``: run a Handrail worker until stopped.

It hosts the app ``HANDRAIL_APP`` names (``handrail.runtime.app``): its tools, profiles and
scripted brain; with none, the built-in tools and the MCP servers the profiles name. The
checkout's ``worker.py`` passes the repository's example agent as its default.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from handrail.cli.process_exit import StopSignal, exit_by_signal, exit_now, run_main
from handrail.errors import UserError, describe_validation_error
from handrail.runtime.app import BARE_APP, AgentApp, resolve_app
from handrail.runtime.services import connected, model_endpoint, temporal_service
from handrail.runtime.worker import running_worker
from handrail.settings import HandrailSettings, settings_help
from handrail.telemetry.core import Telemetry

log = logging.getLogger("handrail.worker")


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        description="Run a Handrail worker for AgentWorkflow and its activities until stopped "
        "(Ctrl-C, SIGTERM, SIGHUP). With the embedded server on and nothing listening on a "
        "loopback HANDRAIL_TEMPORAL_ADDRESS, it also starts a Temporal dev server, and stops it "
        "on the way out. With no OPENAI_API_KEY or OPENAI_BASE_URL it uses the scripted model.",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


async def serve(settings: HandrailSettings, app: AgentApp = BARE_APP) -> None:
    """Run a worker for ``app`` (and what it needs) until cancelled; everything it started
    stops after."""
    settings = app.settle(settings)
    if app.prepare is not None:
        app.prepare(settings)
    telemetry = Telemetry.from_settings(settings)
    brain = app.brain() if app.brain is not None else None
    try:
        async with temporal_service(settings), model_endpoint(settings, brain) as effective:
            client, added = await connected(effective, telemetry)
            if added:
                log.info("registered search attributes %s", ", ".join(added))
            async with running_worker(client, effective, app=app, telemetry=telemetry):
                log.info(
                    "worker on task queue %r at %s (namespace %s), hosting %s",
                    settings.task_queue,
                    settings.temporal_address,
                    settings.temporal_namespace,
                    app.name,
                )
                await asyncio.Event().wait()  # until cancelled by a signal
    finally:
        # Every way out, a signal included: spans and metrics still buffered are sent.
        telemetry.shutdown()


def main(argv: Sequence[str] | None = None, *, default_app: str | AgentApp | None = None) -> int:
    """The worker's command line; returns the exit code (a stop signal ends the process by
    that signal, once the worker and the servers it started have stopped). ``default_app``:
    hosted when ``HANDRAIL_APP`` names none."""
    build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = HandrailSettings()
    except ValidationError as error:
        print(f"error: {describe_validation_error('settings', error)}", file=sys.stderr)
        return 2
    try:
        run_main(serve(settings, resolve_app(settings, default_app)))
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how a person stops a worker in a terminal
    except StopSignal as stop:
        log.info("stopped by %s", stop)
        exit_by_signal(stop.signum)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def entry(default_app: str | AgentApp | None = None) -> None:
    """The ``handrail-worker`` console script (and ``python worker.py``, with its example)."""
    exit_now(main(default_app=default_app))
