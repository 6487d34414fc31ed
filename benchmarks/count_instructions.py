"""Instructions per job of `bench_scheduler.py`'s workload, counted by callgrind.

    .venv/bin/python benchmarks/count_instructions.py [--tasks 10000] [--kind function]
        [--systems asyncz_queue,apscheduler3,asyncz]

Rates on a shared machine swing by a quarter between runs; the number of instructions a
process executes does not (the same count to within half a percent, whatever else the
machine does). So this script runs the workload under `valgrind --tool=callgrind` three
times per scheduler — start and shut down only, add N date tasks due now to a paused
scheduler, add them then resume until every job ran — and prints the differences per job:
instructions to add a task and to run its job (fire, hand to the executor, record the
outcome), every thread counted, the garbage collector included.

It counts user-space instructions only: time in the kernel (a self-pipe write per job,
a thread woken per job) and waiting on memory are not counted, so a peer that spends
them looks leaner here than its CPU time says. Use it to compare versions of our own code;
`bench_scheduler.py` compares against the peers. Needs valgrind (Debian: `valgrind`); each
run takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_scheduler as bench  # noqa: E402

PHASES = ("none", "add", "run")


async def child(system: str, phase: str, n: int, kind: str) -> None:
    """Under callgrind: one phase of the workload for one scheduler."""
    contender = bench.CONTENDERS[system]
    await contender(0 if phase == "none" else n, True, bench.JOBS[kind], run=phase == "run")


def count(system: str, phase: str, n: int, kind: str) -> int:
    """Instructions of one child run under callgrind."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "child", system, phase, str(n), kind,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["child"]:
        import logging

        logging.disable(logging.WARNING)  # the peers log every job at INFO
        system, phase, n, kind = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        asyncio.run(child(system, phase, n, kind))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--kind", choices=sorted(bench.JOBS), default="function")
    parser.add_argument(
        "--systems", type=lambda text: text.split(","), default=list(bench.CONTENDERS)
    )
    args = parser.parse_args()
    n = args.tasks
    print(f"{n} date tasks due now, {args.kind} jobs: instructions per job (callgrind)")
    print(f"{'scheduler':<14} {'add a task':>12} {'run its job':>12}")
    for system in args.systems:
        none, add, run = (count(system, phase, n, args.kind) for phase in PHASES)
        print(f"{system:<14} {(add - none) / n:>12,.0f} {(run - add) / n:>12,.0f}")


if __name__ == "__main__":
    main()
