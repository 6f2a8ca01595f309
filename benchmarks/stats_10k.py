"""``stats`` over 10,000 recorded tasks: the issue's bar is an answer in under 2 s.

    .venv/bin/python -m benchmarks.stats_10k [--tasks 10000] [--repeat 5]

Fills a temporary ledger with synthetic tasks (about four steps each: questions, refunds run on
their own or reviewed, rollbacks, invalid replies and denials; ``tests/ledger_factory.py``),
then times, median of ``--repeat`` runs each:

- the floor: a bare ``SELECT COUNT(*)`` over the same rows (opening a connection included);
- ``compute_stats``: every query and the report, with autonomy assessed for ``store_actions``;
- rendering: the terminal table and the HTML report;
- one ``write`` as the ``record_run`` activity does it (its own transaction, synced to disk).

Not a test: numbers depend on the machine and its disk.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from examples.store.settings import PROFILES as STORE_PROFILES
from handrail.profiles.catalog import ProfileCatalog
from handrail.reports.render_html import format_html
from handrail.reports.render_text import format_table
from handrail.reports.stats import compute_stats
from handrail.storage.ledger import RunLedger
from tests.ledger_factory import synthetic

BAR_SECONDS = 2.0


def _median_seconds(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (runs,) = db.execute("SELECT COUNT(*) FROM runs").fetchone()
        (steps,) = db.execute("SELECT COUNT(*) FROM run_steps").fetchone()
    return int(runs) + int(steps)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    profile = ProfileCatalog(STORE_PROFILES).load("store_actions")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.db"
        ledger = RunLedger(path)
        started = time.perf_counter()
        stored = ledger.write_many(synthetic(args.tasks))
        fill = time.perf_counter() - started
        with sqlite3.connect(path) as db:
            (steps,) = db.execute("SELECT COUNT(*) FROM run_steps").fetchone()
        size_mb = path.stat().st_size / 1e6
        print(
            f"ledger: {stored:,} tasks, {steps:,} steps ({steps / stored:.1f} per task), "
            f"{size_mb:.1f} MB; filled in {fill:.1f} s (one transaction)"
        )

        log_path = Path(directory) / "autonomy_log.jsonl"
        floor = _median_seconds(lambda: _count(path), args.repeat)
        report = compute_stats(ledger, profile=profile, log_path=log_path)
        stats = _median_seconds(
            lambda: compute_stats(ledger, profile=profile, log_path=log_path), args.repeat
        )
        table = _median_seconds(lambda: format_table(report), args.repeat)
        page = _median_seconds(lambda: format_html(report), args.repeat)

        extra = list(synthetic(200, seed=11))
        writes = []
        for record in extra:
            record = record.model_copy(update={"task_id": "extra-" + record.task_id})
            began = time.perf_counter()
            ledger.write_sync(record)
            writes.append(time.perf_counter() - began)

    total = stats + table + page
    verdict = "under" if total < BAR_SECONDS else "OVER"
    print(f"median of {args.repeat}:")
    print(f"  floor: SELECT COUNT(*) over runs and steps   {floor * 1000:8.1f} ms")
    print(f"  compute_stats (queries + report + autonomy)  {stats * 1000:8.1f} ms")
    print(f"  format_table                                 {table * 1000:8.1f} ms")
    print(f"  format_html                                  {page * 1000:8.1f} ms")
    print(f"  stats in all                                 {total * 1000:8.1f} ms ({verdict} 2 s)")
    print(
        f"one record_run write (own transaction, synced), median of {len(writes)}: "
        f"{statistics.median(writes) * 1000:.2f} ms"
    )
    print(
        f"report: {report.tasks:,} tasks, {len(report.actions)} action types, "
        f"escalation rate {report.escalation.rate:.1%}, "
        f"recommendations: {[f'{a.advice} {a.tool}' for a in report.recommendations] or 'none'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
