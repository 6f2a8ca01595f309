"""Handrail's command line: ``handrail --help`` (the console script) or ``python starter.py``.

demo     the hosted app's demo, if it has one (``HANDRAIL_APP``; the checkout's starter.py hosts
         the repository's example agent): the embedded dev server, a worker and a few tasks
start    start a task (``--wait`` waits, showing each step as it happens)
result   wait for a task's result
trace    print a task's decision path
pending  list tasks awaiting review
review   approve, edit, reject or answer a step awaiting review
stats    success rates, latency, tokens, cost, reviewer agreement; an HTML report
promote  widen a tool's autonomy one level (demote narrows it), recorded with who and why
export   decisions and reviewer verdicts as JSONL training data
server   run the embedded Temporal dev server (and its Web UI) until interrupted
serve    run the HTTP gateway and the review inbox until interrupted
token    make a bearer token for a reviewer or a service (prints its settings line)

Exit codes: 0 done; 1 a task or command failed; 2 a mistake in the command, its input or the
settings (the message names it); 3 ``start --task-id`` named a task id that already ran a
different task (goal, profile or context): nothing new started; 130 Ctrl-C; killed by SIGTERM
or SIGHUP once what the command started has stopped. ``start`` with a task id that already ran
the same task starts nothing either, says ``already running:`` or ``already finished:``, and
exits 0 (``--wait`` then waits for that run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence
from typing import Any, Final

from pydantic import ValidationError

from handrail.cli.common import connect, refuse_ignored
from handrail.cli.output import print_error, print_result
from handrail.cli.process_exit import StopSignal, exit_by_signal, exit_now, run_main
from handrail.cli.review import register as register_review_commands
from handrail.cli.serve import register as register_serve_commands
from handrail.cli.stats import register as register_stats_commands
from handrail.cli.trace_format import (
    format_step,
    format_trace,
    printable,
)
from handrail.errors import (
    HandrailError,
    RunError,
    TaskIdReusedError,
    UserError,
    describe_validation_error,
)
from handrail.runtime.app import BARE_APP, AgentApp, resolve_app
from handrail.runtime.devserver import DevServer, split_address
from handrail.settings import HandrailSettings
from handrail.telemetry.core import Telemetry

_PROGRESS_POLL_SECONDS = 0.5

# Exit codes (the module docstring and ``--help`` list them).
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2  # as argparse's own for a bad command line
EXIT_TASK_ID_REUSED: Final = 3


async def cmd_start(settings: HandrailSettings, args: argparse.Namespace) -> int:
    task: dict[str, Any] | str
    if args.input is not None:
        refuse_ignored(
            args,
            "with --input: put them in the JSON instead",
            "goal",
            "--profile",
            "--context",
            "--task-id",
        )
        task = args.input
    else:
        if not args.goal:
            raise UserError('give a goal, e.g. `starter.py start "What can you do?"`')
        task = {"goal": args.goal}
        if args.profile is not None:  # else the settings' (or the app's) default profile
            task["profile"] = args.profile
        if args.task_id:
            task["task_id"] = args.task_id
        if args.context:
            try:
                task["context"] = json.loads(args.context)
            except json.JSONDecodeError as error:
                raise UserError(f"--context is not valid JSON: {error}") from None
    handrail = await connect(settings, args)
    # A task id that already ran: the same task again says so (exit 0, nothing new started); a
    # different task under it is refused (TaskIdReusedError, EXIT_TASK_ID_REUSED).
    handle, outcome = await handrail.start_or_join(task)
    said = "started" if outcome == "started" else f"already {outcome}:"
    print(printable(f"{said} {handle.id}  {settings.ui_url(handle.id)}"))
    if not args.wait:
        return 0
    result_task = asyncio.ensure_future(handrail.get_result(handle.id))
    shown = 0
    while not result_task.done():
        await asyncio.wait({result_task}, timeout=_PROGRESS_POLL_SECONDS)
        trace = await handrail.get_trace(handle.id)
        for step in trace.steps[shown:]:
            print("\n".join(format_step(step)))
        shown = len(trace.steps)
    result = await result_task
    print(printable(f"{result.status}: {result.answer or '(no answer)'}"))
    if result.error:  # why no answer was delivered (a commit point's failed action, say)
        print(printable(f"why: {result.error}"))
    return 0


async def cmd_result(settings: HandrailSettings, args: argparse.Namespace) -> int:
    handrail = await connect(settings, args)
    result = await handrail.get_result(args.task_id)
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print_result(result, settings)
    return 0


async def cmd_trace(settings: HandrailSettings, args: argparse.Namespace) -> int:
    handrail = await connect(settings, args)
    trace = await handrail.get_trace(args.task_id)
    print(trace.model_dump_json(indent=2) if args.json else format_trace(trace))
    return 0


async def cmd_server(settings: HandrailSettings, args: argparse.Namespace) -> int:
    host, port = split_address(settings.temporal_address)
    async with DevServer(
        db_file=settings.temporal_db_path, host=host, port=port, ui_port=settings.ui_port
    ):
        print(f"Temporal dev server at {host}:{port}, Web UI {settings.ui_url('')}; Ctrl-C stops.")
        await asyncio.Event().wait()
    return 0


def build_parser(app: AgentApp = BARE_APP) -> argparse.ArgumentParser:
    """The command line; ``demo`` is there when ``app`` has one."""
    parser = argparse.ArgumentParser(
        description="Run and inspect Handrail agent tasks. Settings come from HANDRAIL_* "
        "environment variables (see README).",
        epilog="Exit codes: 0 done; 1 failed; 2 bad command, input or settings; 3 start "
        "--task-id: the id already ran a different task, nothing started; 130 interrupted.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    if app.demo is not None:
        demo = commands.add_parser(
            "demo", help=f"the {app.name} demo: dev server + worker + a few tasks, then stop"
        )
        demo.add_argument(
            "--serve",
            action="store_true",
            help="afterwards, keep the Web UI up and serve the review inbox with a task waiting",
        )
        demo.set_defaults(handler=app.demo)

    start = commands.add_parser("start", help="start a task")
    start.add_argument("goal", nargs="?", help="the question or job")
    start.add_argument(
        "--profile", help="profile name (default: HANDRAIL_DEFAULT_PROFILE, or the app's)"
    )
    start.add_argument("--context", help="JSON object of facts for the model")
    start.add_argument(
        "--task-id",
        help="idempotency key (becomes the workflow id): the same task again starts nothing "
        "(exit 0); a different task under a used id is refused (exit 3)",
    )
    start.add_argument("--input", help="the whole task as JSON instead of the options above")
    start.add_argument("--wait", action="store_true", help="wait, showing steps as they happen")
    start.set_defaults(handler=cmd_start)

    result = commands.add_parser("result", help="wait for a task's result")
    result.add_argument("task_id")
    result.add_argument("--json", action="store_true")
    result.set_defaults(handler=cmd_result)

    trace = commands.add_parser("trace", help="print a task's decision path")
    trace.add_argument("task_id")
    trace.add_argument("--json", action="store_true")
    trace.set_defaults(handler=cmd_trace)

    register_review_commands(commands)  # pending, review

    register_stats_commands(commands)  # stats, promote, demote, export

    server = commands.add_parser("server", help="run the embedded Temporal dev server")
    server.set_defaults(handler=cmd_server)

    register_serve_commands(commands)  # serve, token
    return parser


def main(argv: Sequence[str] | None = None, *, default_app: str | AgentApp | None = None) -> int:
    """The command line; returns the exit code (a stop signal ends the process by that signal,
    once what the command started has stopped). ``default_app``: the app hosted when
    ``HANDRAIL_APP`` names none (an ``AgentApp`` or its ``module:attribute``)."""
    try:
        settings = HandrailSettings()
        app = resolve_app(settings, default_app)
    except (ValidationError, UserError) as error:
        build_parser().parse_args(argv)  # --help, or a mistake in the command line, first
        if isinstance(error, ValidationError):
            error = UserError(describe_validation_error("settings", error))
        print_error("error", error)
        return EXIT_USAGE
    args = build_parser(app).parse_args(argv)
    settings = app.settle(settings)  # the app's profile folders and default profile
    # Flushed in the finally: exit_now skips atexit hooks (sdk-python#300).
    args.telemetry = Telemetry.from_settings(settings)
    try:
        return int(run_main(args.handler(settings, args)))
    except KeyboardInterrupt:
        return 130
    except StopSignal as stop:
        exit_by_signal(stop.signum)
    except BrokenPipeError:  # `starter.py trace X | head`: the reader left; that is fine
        return 0
    except TaskIdReusedError as error:
        print_error("error", error)
        return EXIT_TASK_ID_REUSED
    except UserError as error:
        print_error("error", error)
        return EXIT_USAGE
    except (RunError, HandrailError) as error:
        print_error("failed", error)
        return EXIT_FAILED
    finally:
        args.telemetry.shutdown()


def entry(default_app: str | AgentApp | None = None) -> None:
    """The ``handrail`` console script (and ``python starter.py``, which hosts its example)."""
    exit_now(main(default_app=default_app))
