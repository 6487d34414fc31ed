"""Jobs per second through asyncz_queue's pool executors beside Asyncz's, in one run.

    .venv/bin/python benchmarks/bench_executors.py [--jobs 2000] [--rounds 3] [--limit 120]

Each executor gets the same workload: `--jobs` calls of a no-op function, all handed over at
once, timed from the first hand-over to the last reported outcome. The thread pools run
with 10 threads (both libraries' default), the process pools with 2 children. Pools are
started and warmed up (50 jobs) before the clock starts, so the figures are steady-state
throughput, not start-up. Each figure is the best of `--rounds`; `--limit` seconds bound
every round.

asyncz_queue's executors are driven through `submit(job, on_done)` (what its scheduler
calls); Asyncz's through `send_task(task, [run_time])` with an unstarted Asyncz scheduler
as their host (what its scheduler calls), counting its TASK_EXECUTED events. Neither
measurement includes a store.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from asyncz_queue.executors import BaseExecutor  # noqa: E402
from asyncz_queue.executors.pool import ThreadPoolExecutor  # noqa: E402
from asyncz_queue.executors.process import ProcessPoolExecutor  # noqa: E402
from asyncz_queue.jobs import Job, JobError  # noqa: E402

WARMUP = 50
THREADS = 10
PROCESSES = 2


def noop() -> None:
    """The trivial job."""


# ---- asyncz_queue ----------------------------------------------------------------------


async def _drain(executor: BaseExecutor, jobs: list[Job], limit: float) -> float:
    remaining = len(jobs)
    finished = asyncio.Event()
    errors: list[JobError] = []

    def on_done(job: Job, result: Any, error: JobError | None) -> None:
        nonlocal remaining
        if error is not None:
            errors.append(error)
        remaining -= 1
        if not remaining:
            finished.set()

    started = time.perf_counter()
    for job in jobs:
        executor.submit(job, on_done)
    async with asyncio.timeout(limit):
        await finished.wait()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} jobs failed: {errors[0].message}")
    return elapsed


async def _ours(
    factory: Callable[[], BaseExecutor], count: int, rounds: int, limit: float
) -> float:
    executor = factory()
    await executor.start()
    try:
        await _drain(executor, [Job.from_func(noop) for _ in range(WARMUP)], limit)
        best = float("inf")
        for _ in range(rounds):
            jobs = [Job.from_func(noop) for _ in range(count)]
            best = min(best, await _drain(executor, jobs, limit))
        return best
    finally:
        await executor.shutdown()


# ---- Asyncz ------------------------------------------------------------------------------


def _asyncz(kind: str, count: int, rounds: int, limit: float) -> float:
    from asyncz.events.constants import TASK_ERROR, TASK_EXECUTED
    from asyncz.executors.pool import ThreadPoolExecutor as AsynczThreads
    from asyncz.executors.process_pool import ProcessPoolExecutor as AsynczProcesses
    from asyncz.schedulers.asyncio import AsyncIOScheduler as AsynczScheduler
    from asyncz.tasks import Task

    host = AsynczScheduler()
    lock = threading.Lock()
    state = {"remaining": 0, "errors": 0}
    finished = threading.Event()

    def listener(event: Any) -> None:
        with lock:
            state["remaining"] -= 1
            state["errors"] += event.code == TASK_ERROR
            if not state["remaining"]:
                finished.set()

    host.add_listener(listener, TASK_EXECUTED | TASK_ERROR)
    if kind == "threads":
        executor: Any = AsynczThreads(max_workers=THREADS)
    else:
        executor = AsynczProcesses(max_workers=PROCESSES)
    executor.start(host, "bench")

    def drain(size: int) -> float:
        tasks = [Task(fn=noop, id=f"t{i}", max_instances=1) for i in range(size)]
        now = datetime.now(UTC)
        state["remaining"] = size
        finished.clear()
        started = time.perf_counter()
        for task in tasks:
            executor.send_task(task, [now])
        if not finished.wait(limit):
            raise TimeoutError(f"Asyncz {kind}: {state['remaining']} jobs left after {limit} s")
        elapsed = time.perf_counter() - started
        if state["errors"]:
            raise RuntimeError(f"Asyncz {kind}: {state['errors']} jobs failed")
        return elapsed

    try:
        drain(WARMUP)
        return min(drain(count) for _ in range(rounds))
    finally:
        executor.shutdown(wait=True)


def _peer(kind: str, count: int, rounds: int, limit: float) -> float | str:
    """Asyncz's figure, or why it could not be measured (a peer's failure is a finding)."""
    try:
        return _asyncz(kind, count, rounds, limit)
    except (TimeoutError, RuntimeError) as exc:
        return str(exc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds per round at most")
    options = parser.parse_args()
    count, rounds, limit = options.jobs, options.rounds, options.limit

    figures: dict[tuple[str, str], float | str] = {
        ("threadpool", "asyncz_queue"): asyncio.run(
            _ours(lambda: ThreadPoolExecutor(max_workers=THREADS), count, rounds, limit)
        ),
        ("threadpool", "Asyncz"): _peer("threads", count, rounds, limit),
        ("processpool", "asyncz_queue"): asyncio.run(
            _ours(lambda: ProcessPoolExecutor(max_workers=PROCESSES), count, rounds, limit)
        ),
        ("processpool", "Asyncz"): _peer("processes", count, rounds, limit),
    }
    print(f"{count} no-op jobs, best of {rounds}; threads={THREADS}, processes={PROCESSES}")
    print(f"{'executor':<12} {'library':<13} {'seconds':>8} {'jobs/s':>9}")
    for (alias, library), seconds in figures.items():
        if isinstance(seconds, str):
            print(f"{alias:<12} {library:<13} failed: {seconds}")
        else:
            print(f"{alias:<12} {library:<13} {seconds:>8.3f} {count / seconds:>9.0f}")
    for alias in ("threadpool", "processpool"):
        theirs, ours = figures[(alias, "Asyncz")], figures[(alias, "asyncz_queue")]
        if isinstance(theirs, float) and isinstance(ours, float):
            print(f"{alias}: asyncz_queue runs {theirs / ours:.2f}x the jobs/s of Asyncz")


if __name__ == "__main__":
    main()
