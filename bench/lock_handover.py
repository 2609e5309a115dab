"""Benchmark: how soon a waiter gets guards.locks' file lock once its holder lets go.

    .venv/bin/python bench/lock_handover.py [--hold-ms 32] [--outside-ms 20] [--turns 60]

Two processes take turns on one lock, as two GitOps workers do on the repository
lock: each holds it for HOLD ms (an apply), lets go, works OUTSIDE ms (the other
steps) and waits for it again. Prints how much of the time the lock was held: what
is missing is time the lock sat free while a waiter slept. Sleeps only, so the
figure hardly depends on the machine's load.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.market_sync import line  # noqa: E402
from guards.locks import exclusive_lock  # noqa: E402


def take_turns(path: str, hold: float, outside: float, turns: int, start: Any) -> None:
    start.wait()
    for _ in range(turns):
        with exclusive_lock(Path(path), timeout=60):
            time.sleep(hold)
        time.sleep(outside)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hold-ms", type=float, default=32)
    parser.add_argument("--outside-ms", type=float, default=20)
    parser.add_argument("--turns", type=int, default=60)
    args = parser.parse_args()
    hold, outside = args.hold_ms / 1000, args.outside_ms / 1000
    with tempfile.TemporaryDirectory(prefix="bench-lock-") as tmp:
        path = str(Path(tmp) / "repo.lock")
        context = multiprocessing.get_context("spawn")
        start = context.Barrier(3)
        processes = [
            context.Process(target=take_turns, args=(path, hold, outside, args.turns, start))
            for _ in range(2)
        ]
        for process in processes:
            process.start()
        start.wait()  # both processes started: the clock starts with their first turn
        started = time.perf_counter()
        for process in processes:
            process.join()
        wall = time.perf_counter() - started
    held = 2 * args.turns * hold
    print(f"lock handover bench: 2 processes x {args.turns} turns")
    line(
        f"held {args.hold_ms:.0f} ms, {args.outside_ms:.0f} ms outside",
        f"lock held {held / wall * 100:.0f}% of {wall:.1f}s",
        f"{(wall - held) / (2 * args.turns) * 1000:.1f} ms free per turn",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
