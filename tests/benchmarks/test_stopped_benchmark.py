"""A long benchmark stopped by SIGTERM or by its time budget still prints and writes what it
measured (marked partial, with how far it got) and leaves no process it started behind.

``python -m benchmarks --quick --only paused_scale`` runs as a real subprocess (its own dev
server, model server and worker subprocesses) with more tasks than ``--quick`` has, so that it
is still pausing them when it is stopped. No timing is asserted: the stop is sent after the
first progress line, whenever that comes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra

ROOT = Path(__file__).resolve().parents[2]
TASKS = "400"  # far more than the benchmark gets through before it is stopped
WAIT_SECONDS = 120
COMMAND = (sys.executable, "-m", "benchmarks", "--quick", "--only", "paused_scale")


def _benchmark(out: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*COMMAND, "--out", str(out)],
        cwd=ROOT,
        env=os.environ | {"BENCH_PAUSED_TASKS": TASKS, "BENCH_PROGRESS_SECONDS": "1"} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _until_line(process: subprocess.Popen[str], starts: str) -> list[str]:
    """Its output up to the first line starting (after spaces) with ``starts``."""
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_SECONDS
    for line in process.stdout:
        seen.append(line)
        if line.strip().startswith(starts):
            return seen
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError("ended before a progress line:\n" + "".join(seen))


def _finish(process: subprocess.Popen[str]) -> str:
    try:
        out, _ = process.communicate(timeout=WAIT_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
    return out


def _partial_rows(out: Path, reason: str, *, floor_started: bool) -> dict[str, Any]:
    written: dict[str, Any] = json.loads(out.read_text())
    assert written["complete"] is False
    assert written["stopped"].startswith(reason)
    rows = written["rows"]
    assert rows
    assert all(row["partial"] for row in rows)
    assert all("PARTIAL" in row["note"] for row in rows)
    how_far = next(row for row in rows if row["metric"] == "how far it got")
    assert "started" in how_far["note"]
    if floor_started:  # what the floor had measured is kept
        assert how_far["floor"] > 0
    return written


def test_sigterm_keeps_the_rows_measured_so_far(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    process = _benchmark(out)
    try:
        seen = _until_line(process, "[floor]")
        started = psutil.Process(process.pid).children(recursive=True)
        assert started, "the dev server and the worker run as its children"
        process.send_signal(signal.SIGTERM)
        output = "".join(seen) + _finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGTERM, output
    assert "stopped by SIGTERM" in output
    assert "how far it got" in output  # printed, not only written
    _partial_rows(out, "stopped by SIGTERM", floor_started=True)
    _, alive = psutil.wait_procs(started, timeout=10)
    assert not alive, f"left running: {alive}"


def test_a_run_out_of_budget_keeps_its_rows_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    process = _benchmark(out, BENCH_BUDGET_SECONDS="1")
    output = _finish(process)
    assert process.returncode == 3, output
    assert "out of time" in output
    # A second may end before the floor's worker is up: no claim on how far it got.
    written = _partial_rows(out, "out of time", floor_started=False)
    assert written["not_run"] == []
