"""Date tasks due now through the memory store and the asyncio executor: ours vs the peers.

Two measurements per scheduler, the same workload through Asyncz and APScheduler 3 (memory
store, asyncio executor) in the same process, one after the other:

- paused: add N date tasks due now to a paused scheduler (add rate), resume it and time
  until every task's coroutine has run (run rate);
- live: add N date tasks due now to a running scheduler and time from the first add until
  the last task ran (end-to-end rate, what an application sees).

    .venv/bin/python benchmarks/bench_scheduler.py [--tasks 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

done = asyncio.Event()
remaining = 0


async def tick() -> None:
    """The job: counts down and signals when the last one ran."""
    global remaining
    remaining -= 1
    if remaining == 0:
        done.set()


def _arm(n: int) -> None:
    global remaining, done
    remaining = n
    done = asyncio.Event()


async def ours(n: int, paused: bool = True) -> tuple[float, float]:
    from asyncz_queue import AsyncIOScheduler

    scheduler = AsyncIOScheduler(task_defaults={"mistrigger_grace_time": None})
    await scheduler.start(paused=paused)
    _arm(n)
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(n):
        await scheduler.add_task(tick, "date", run_at=now, id=f"t{i}")
    added = time.perf_counter()
    if paused:
        await scheduler.resume()
    await asyncio.wait_for(done.wait(), 120)
    finished = time.perf_counter()
    await scheduler.shutdown()
    return added - began, finished - added


async def asyncz(n: int, paused: bool = True) -> tuple[float, float]:
    from asyncz.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler()
    scheduler.start(paused=paused)
    _arm(n)
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(n):
        scheduler.add_task(tick, "date", run_at=now, id=f"t{i}", mistrigger_grace_time=None)
    added = time.perf_counter()
    if paused:
        scheduler.resume()
    await asyncio.wait_for(done.wait(), 120)
    finished = time.perf_counter()
    scheduler.shutdown(wait=False)
    return added - began, finished - added


async def apscheduler(n: int, paused: bool = True) -> tuple[float, float]:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=paused)
    _arm(n)
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(n):
        scheduler.add_job(tick, "date", run_date=now, id=f"t{i}", misfire_grace_time=None)
    added = time.perf_counter()
    if paused:
        scheduler.resume()
    await asyncio.wait_for(done.wait(), 120)
    finished = time.perf_counter()
    scheduler.shutdown(wait=False)
    return added - began, finished - added


CONTENDERS: dict[str, Callable[[int, bool], Awaitable[tuple[float, float]]]] = {
    "asyncz_queue": ours,
    "asyncz": asyncz,
    "apscheduler3": apscheduler,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the peers log every job at INFO
    n = args.tasks
    rows: dict[str, tuple[float, float, float]] = {}
    for name, run in CONTENDERS.items():
        adds, runs, lives = [], [], []
        for _ in range(args.rounds):
            add_s, run_s = asyncio.run(run(n, True))
            adds.append(n / add_s)
            runs.append(n / run_s)
            add_s, run_s = asyncio.run(run(n, False))
            lives.append(n / (add_s + run_s))
        rows[name] = (statistics.median(adds), statistics.median(runs), statistics.median(lives))
    print(
        f"{n} date tasks due now, memory store, asyncio executor (median of {args.rounds} rounds)"
    )
    print(f"{'scheduler':<14} {'add/s':>10} {'run/s':>10} {'live end-to-end/s':>18}")
    for name, (add_rate, run_rate, live_rate) in rows.items():
        print(f"{name:<14} {add_rate:>10,.0f} {run_rate:>10,.0f} {live_rate:>18,.0f}")
    for column, label in ((1, "run"), (2, "live end-to-end")):
        ours_rate = rows["asyncz_queue"][column]
        peer = max(rate[column] for name, rate in rows.items() if name != "asyncz_queue")
        print(f"ratio {label} rate vs the faster peer: {ours_rate / peer:.1f}x")


if __name__ == "__main__":
    main()
