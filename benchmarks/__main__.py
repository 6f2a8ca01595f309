"""``python -m benchmarks [--quick] [--only NAME ...] [--out FILE]``

Runs every benchmark but the slow ones (those run only when ``--only`` names them) against one
embedded dev server and the zero-latency scripted model, prints the table (Handrail beside its
floor and peers), and writes the rows as JSON. ``--quick`` keeps the default run under two
minutes on a 2-core machine by using fewer tasks and steps.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path

from benchmarks.harness import Row, bench_env, table, write_json
from handrail.cli.process_exit import exit_now

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
    args = parser.parse_args(argv)

    started = time.monotonic()
    rows: list[Row] = []
    async with bench_env(args.quick) as bench:
        for name in args.only or BENCHMARKS:
            module = importlib.import_module(f"benchmarks.{name}")
            began = time.monotonic()
            print(f"-- {name} ...", flush=True)
            found: list[Row] = await module.run(bench)
            rows += found
            print(table(found), flush=True)
            print(f"   ({time.monotonic() - began:.1f} s)\n", flush=True)
    seconds = time.monotonic() - started
    print(table(rows))
    write_json(rows, args.out, quick=args.quick, seconds=seconds)
    print(f"\n{len(rows)} numbers in {seconds:.0f} s; written to {args.out}")
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main(sys.argv[1:])))
