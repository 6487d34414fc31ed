"""Date tasks due now through the memory store and the asyncio executor: ours vs the peers.

The same workload through Asyncz and APScheduler 3 (memory store, asyncio executor) in the
same process, taking turns round by round, for two kinds of job function:

- `function`: a plain function, which every asyncio executor runs off the event loop on a
  worker thread (the peers through `run_in_executor`, one hand-off per job);
- `coroutine`: a coroutine function, awaited on the event loop.

Two measurements per scheduler and kind (and the process's CPU time per job while the
paused round runs, every thread counted: steadier than rates on a shared machine, whose
other tenants take wall time but not CPU time):

- paused: add N date tasks due now to a paused scheduler (add rate), resume it and time
  until every task's function has run (run rate);
- live: add N date tasks due now to a running scheduler and time from the first add until
  the last task ran (end-to-end rate, what an application sees).

Below each table, a floor for coroutine jobs: N bare asyncio tasks (create one per job and
run it; no scheduler at all), beside the time per job that 5x the faster peer's run rate
leaves. No scheduler that gives each job an asyncio task runs faster than the first.

    .venv/bin/python benchmarks/bench_scheduler.py [--tasks 10000] [--rounds 3] [--kind both]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

done = asyncio.Event()
loop: asyncio.AbstractEventLoop | None = None
target = 0
ran = itertools.count(1)


async def tick() -> None:
    """The coroutine job: counts and signals when the last one ran."""
    if next(ran) == target:
        done.set()


def tick_sync() -> None:
    """The plain-function job (on a worker thread): counts and signals the loop at the end."""
    if next(ran) == target:  # next() on a count is atomic under the GIL
        assert loop is not None
        loop.call_soon_threadsafe(done.set)


JOBS = {"coroutine": tick, "function": tick_sync}


#: Seconds spent adding, seconds from resume (or the last add) to the last job, and the
#: CPU seconds of the whole process (every thread) in the second part.
Timings = tuple[float, float, float]


def _arm(n: int) -> None:
    global ran, done, loop, target
    ran, target = itertools.count(1), n
    done = asyncio.Event()
    loop = asyncio.get_running_loop()


async def ours(n: int, paused: bool, job: Callable[[], object], run: bool = True) -> Timings:
    from asyncz_queue import AsyncIOScheduler

    scheduler = AsyncIOScheduler(task_defaults={"mistrigger_grace_time": None})
    await scheduler.start(paused=paused)
    _arm(n)
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(n):
        await scheduler.add_task(job, "date", run_at=now, id=f"t{i}")
    added, added_cpu = time.perf_counter(), time.process_time()
    if run:
        if paused:
            await scheduler.resume()
        await asyncio.wait_for(done.wait(), 120)
    finished, finished_cpu = time.perf_counter(), time.process_time()
    await scheduler.shutdown()
    return added - began, finished - added, finished_cpu - added_cpu


async def asyncz(n: int, paused: bool, job: Callable[[], object], run: bool = True) -> Timings:
    from asyncz.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler()
    scheduler.start(paused=paused)
    _arm(n)
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(n):
        scheduler.add_task(job, "date", run_at=now, id=f"t{i}", mistrigger_grace_time=None)
    added, added_cpu = time.perf_counter(), time.process_time()
    if run:
        if paused:
            scheduler.resume()
        await asyncio.wait_for(done.wait(), 120)
    finished, finished_cpu = time.perf_counter(), time.process_time()
    scheduler.shutdown(wait=False)
    return added - began, finished - added, finished_cpu - added_cpu


async def apscheduler(n: int, paused: bool, job: Callable[[], object], run: bool = True) -> Timings:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.start(paused=paused)
    _arm(n)
    now = datetime.now(UTC)
    began = time.perf_counter()
    for i in range(n):
        scheduler.add_job(job, "date", run_date=now, id=f"t{i}", misfire_grace_time=None)
    added, added_cpu = time.perf_counter(), time.process_time()
    if run:
        if paused:
            scheduler.resume()
        await asyncio.wait_for(done.wait(), 120)
    finished, finished_cpu = time.perf_counter(), time.process_time()
    scheduler.shutdown(wait=False)
    return added - began, finished - added, finished_cpu - added_cpu


async def bare_tasks(n: int) -> float:
    """Seconds to create `n` asyncio tasks of `tick` and run them to their end."""
    _arm(n)
    create_task = asyncio.get_running_loop().create_task
    began = time.perf_counter()
    for _ in range(n):
        create_task(tick())
    await asyncio.wait_for(done.wait(), 120)
    return time.perf_counter() - began


def floor(n: int, rounds: int) -> float:
    """Median µs per job of `bare_tasks`."""
    seconds = []
    for _ in range(rounds):
        gc.collect()
        seconds.append(asyncio.run(bare_tasks(n)))
    return statistics.median(seconds) / n * 1e6


#: Each adds `n` tasks (to a paused scheduler if `paused`) and, with `run`, resumes it and
#: waits for every job to run.
CONTENDERS: dict[str, Callable[..., Awaitable[Timings]]] = {
    "asyncz_queue": ours,
    "asyncz": asyncz,
    "apscheduler3": apscheduler,
}


def measure(n: int, rounds: int, job: Callable[[], object]) -> dict[str, tuple[float, ...]]:
    """Median add, run and live rates, and run CPU µs per job, of every contender.

    The contenders take turns within each round, so a slow spell of the machine falls on
    all of them alike, and each run starts after a full garbage collection, so none pays
    for the garbage of the one before it.
    """
    columns: dict[str, list[list[float]]] = {name: [[], [], [], []] for name in CONTENDERS}
    for _ in range(rounds):
        for name, run in CONTENDERS.items():
            adds, runs, lives, cpus = columns[name]
            gc.collect()
            add_s, run_s, run_cpu = asyncio.run(run(n, True, job))
            adds.append(n / add_s)
            runs.append(n / run_s)
            cpus.append(run_cpu / n * 1e6)
            gc.collect()
            add_s, run_s, _ = asyncio.run(run(n, False, job))
            lives.append(n / (add_s + run_s))
    return {
        name: tuple(statistics.median(column) for column in measured)
        for name, measured in columns.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kind", choices=["function", "coroutine", "both"], default="both")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the peers log every job at INFO
    n = args.tasks
    kinds = ["function", "coroutine"] if args.kind == "both" else [args.kind]
    for kind in kinds:
        rows = measure(n, args.rounds, JOBS[kind])
        print(
            f"{n} date tasks due now, {kind} jobs, memory store, asyncio executor "
            f"(median of {args.rounds} rounds)"
        )
        print(
            f"{'scheduler':<14} {'add/s':>10} {'run/s':>10} {'live end-to-end/s':>18} "
            f"{'run CPU µs/job':>15}"
        )
        for name, (add_rate, run_rate, live_rate, cpu) in rows.items():
            print(
                f"{name:<14} {add_rate:>10,.0f} {run_rate:>10,.0f} {live_rate:>18,.0f} {cpu:>15.1f}"
            )
        for column, label in ((1, "run"), (2, "live end-to-end")):
            ours_rate = rows["asyncz_queue"][column]
            peer = max(rate[column] for name, rate in rows.items() if name != "asyncz_queue")
            print(f"ratio {label} rate vs the faster peer: {ours_rate / peer:.1f}x")
        leanest = min(cpu for name, (*_, cpu) in rows.items() if name != "asyncz_queue")
        ours_cpu = rows["asyncz_queue"][3]
        print(f"ratio run CPU per job, leanest peer / ours: {leanest / ours_cpu:.1f}x")
        if kind == "coroutine":
            fastest = max(rate[1] for name, rate in rows.items() if name != "asyncz_queue")
            print(
                f"floor: a bare asyncio task per job takes {floor(n, args.rounds):.1f} µs; "
                f"5x the faster peer's run rate leaves {1e6 / (5 * fastest):.1f} µs per job"
            )
        print()


if __name__ == "__main__":
    main()
