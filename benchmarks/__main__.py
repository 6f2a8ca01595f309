"""``python -m benchmarks [--quick] [--only NAME ...] [--out FILE] [--budget SECONDS]``

Runs every benchmark but the slow ones (those run only when ``--only`` names them) against one
embedded dev server and the zero-latency scripted model, prints the table (Handrail beside its
floor and peers), and writes the rows as JSON. ``--quick`` keeps the default run under two
minutes on a 2-core machine by using fewer tasks and steps.

Stopped by SIGTERM or SIGINT, or out of its budget (``--budget``, default
``BENCH_BUDGET_SECONDS``), a run still prints and writes what it measured: the finished
benchmarks' rows, the stopped one's rows so far (marked partial), and the benchmarks it never
reached; it exits by the signal, with status 3 when out of time, 1 when a benchmark failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
import traceback
from pathlib import Path

from benchmarks.harness import BenchEnv, Row, bench_env, table, write_json
from benchmarks.progress import Stopper, budget_from_env, mark_partial
from handrail.cli.process_exit import exit_by_signal, exit_now

# In the order they run; each module has ``async def run(bench: BenchEnv) -> list[Row]``.
BENCHMARKS = (
    "step_overhead",
    "history_growth",
    "peers",
    "frameworks",
    "review_latency",
    "throughput",
    "paused_scale",
)
# Too long for the default run (the full long task takes about 15 minutes): ``--only`` runs them.
SLOW_BENCHMARKS = ("long_task",)
OUT_OF_TIME = 3  # the exit status of a run stopped by its budget


async def _one(bench: BenchEnv, name: str, stopper: Stopper) -> list[Row]:
    """One benchmark's rows: all of them, or (stopped) those it measured so far, partial."""
    module = importlib.import_module(f"benchmarks.{name}")
    bench.so_far = None
    began = time.monotonic()
    print(f"-- {name} ...", flush=True)
    found: list[Row] | None
    try:
        found = await stopper.run(module.run(bench))
    except Exception as error:  # any failure: keep the rows, then exit 1
        traceback.print_exc()
        stopper.failed(f"{name} failed: {type(error).__name__}: {error}"[:300])
        found = None
    if found is None:
        assert stopper.reason is not None
        so_far: list[Row] = bench.so_far() if bench.so_far is not None else []
        found = mark_partial(so_far, f"{stopper.reason} after {time.monotonic() - began:.0f} s")
    print(table(found), flush=True)
    print(f"   ({time.monotonic() - began:.1f} s)\n", flush=True)
    return found


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a run under two minutes")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHMARKS + SLOW_BENCHMARKS,
        help=f"run just these (the slow ones, {', '.join(SLOW_BENCHMARKS)}, only when named)",
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument(
        "--budget",
        type=float,
        default=budget_from_env(),
        help="stop after this many seconds, keeping what was measured (BENCH_BUDGET_SECONDS)",
    )
    args = parser.parse_args(argv)

    started = time.monotonic()
    rows: list[Row] = []
    names = list(args.only or BENCHMARKS)
    not_run: list[str] = []
    stopper = Stopper(args.budget)
    with stopper.on_signals():
        async with bench_env(args.quick) as bench:
            for name in names:
                if stopper.reason is not None:
                    not_run.append(name)
                    continue
                rows += await _one(bench, name, stopper)
            # Written before the dev server stops: a second signal during shutdown loses nothing.
            seconds = time.monotonic() - started
            print(table(rows))
            write_json(
                rows,
                args.out,
                quick=args.quick,
                seconds=seconds,
                stopped=stopper.reason,
                not_run=not_run,
            )
            done = f"{len(rows)} numbers in {seconds:.0f} s; written to {args.out}"
            if stopper.reason is not None:
                done += f" ({stopper.reason}; not run: {', '.join(not_run) or 'none'})"
            print(f"\n{done}", flush=True)
    if stopper.signum is not None:
        exit_by_signal(stopper.signum)
    if stopper.failure:
        return 1
    return 0 if stopper.reason is None else OUT_OF_TIME


if __name__ == "__main__":
    exit_now(asyncio.run(main(sys.argv[1:])))
