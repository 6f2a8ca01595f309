"""``python -m benchmarks.profile_top FILE [--top N] [--match TEXT]``: the top entries of a
py-spy profile written with ``--format raw`` (collapsed stacks, ``frame;frame;... count``), as
``BENCH_PROFILE_DIR`` writes them (``benchmarks.worker_subprocess``).

Two lists, each as a share of the busy samples (a thread waiting in ``select`` or an idle
executor thread waiting for work is not busy, though py-spy samples it): *inclusive* (samples
with the function anywhere on the stack: where the time goes, callees included) and *self*
(samples where it is the innermost frame). A frame is ``function (file)``, its line dropped,
so one function is one entry however many lines of it were sampled. ``--match`` keeps only
the frames whose text contains ``TEXT`` (``handrail``, ``sandbox``) in the inclusive list.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
_SITE = re.compile(r"\((?:.*/site-packages/|.*/lib/python3\.\d+/|/work/wt/[^/]+/)")
# Innermost frames of a thread that waits: the event loop's select, an executor's idle thread.
IDLE = {
    "EpollSelector.select (selectors.py)",
    "_worker (concurrent/futures/thread.py)",
    "Condition.wait (threading.py)",
}


def _frame(text: str) -> str:
    """``function (file)``: the line number and the site-packages or checkout prefix dropped."""
    return _SITE.sub("(", _LINE.sub(")", text.strip()))


def read(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """Inclusive and self sample counts per frame, and the number of busy samples."""
    inclusive: Counter[str] = Counter()
    innermost: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames or frames[-1] in IDLE:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        innermost[frames[-1]] += count
    return inclusive, innermost, total


def render(path: Path, top: int, match: str) -> str:
    inclusive, innermost, total = read(path)
    lines = [f"{path}: {total:,} busy samples"]
    picked = [(f, n) for f, n in inclusive.most_common() if match in f][:top]
    lines.append(f"inclusive{f' (frames with {match!r})' if match else ''}:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in picked]
    lines.append("self:")
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in innermost.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_top", description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", default="")
    args = parser.parse_args(argv)
    print(render(args.file, args.top, args.match))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
