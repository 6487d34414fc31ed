"""The demo: a ten-second run on the memory store that shows tasks, jobs and events."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import TextIO

from asyncz_queue.events import JobEvent, SchedulerEvent, TaskEvent, constants
from asyncz_queue.jobs import Job
from asyncz_queue.schedulers import AsyncIOScheduler

_started = time.monotonic()


def heartbeat() -> str:
    """The interval task: says it is alive."""
    return "tick"


def reminder(text: str) -> str:
    """The date task: fires once."""
    return text


async def crunch(name: str, n: int) -> int:
    """A pushed job: sums squares, yielding to the loop once."""
    await asyncio.sleep(0.01)
    return sum(i * i for i in range(n))


def blocking_report(name: str) -> str:
    """A plain function: runs in a worker thread on the `asyncio` executor."""
    time.sleep(0.05)
    return f"report {name} done"


def describe(event: SchedulerEvent, labels: dict[str, str] | None = None) -> str:
    """One readable line for an event; `labels` names jobs by id."""
    stamp = f"{time.monotonic() - _started:6.2f}s"
    name = event.name.lower().replace("_", " ")
    if isinstance(event, JobEvent):
        job_id = event.job_id or ""
        what = f"job {(labels or {}).get(job_id, job_id[:8])}"
        if event.task_id:
            what += f" of task {event.task_id!r}"
        detail = f" on {event.executor!r}" if event.executor else ""
        if event.code == constants.JOB_SUCCEEDED:
            detail += f" -> {event.return_value!r}"
        elif event.exception:
            detail += f" !! {event.exception}"
        return f"[{stamp}] {name:<16} {what}{detail}"
    if isinstance(event, TaskEvent):
        return f"[{stamp}] {name:<16} task {event.task_id!r}"
    alias = f" {event.alias!r}" if event.alias else ""
    return f"[{stamp}] {name:<16}{alias}"


async def run_demo(seconds: float = 10.0, out: TextIO | None = None) -> Counter[str]:
    """Run the demo for `seconds`, printing each event to `out`; return counts by event."""
    import sys

    stream = out or sys.stdout
    counts: Counter[str] = Counter()
    labels: dict[str, str] = {}

    def show(event: SchedulerEvent) -> None:
        counts[event.name] += 1
        print(describe(event, labels), file=stream, flush=True)

    scheduler = AsyncIOScheduler(
        executors={"default": {"type": "asyncio"}, "inline": {"type": "debug"}}
    )
    scheduler.add_listener(show)
    here = __name__
    async with scheduler:
        await scheduler.add_task(f"{here}:heartbeat", "interval", seconds=2, id="heartbeat")
        soon = datetime.now(UTC) + timedelta(seconds=3)
        await scheduler.add_task(
            f"{here}:reminder", "date", run_at=soon, args=["three seconds in"], id="reminder"
        )
        await scheduler.pause()  # queue the jobs first so priority decides their order
        jobs = [
            Job.from_func(f"{here}:crunch", args=["low", 10_000], priority=10),
            Job.from_func(f"{here}:crunch", args=["high", 1_000], priority=-10),
            Job.from_func(f"{here}:blocking_report", args=["q3"], priority=0),
            Job.from_func(f"{here}:crunch", args=["inline", 100], executor="inline"),
        ]
        for job in jobs:
            name = job.fn.rpartition(":")[2]
            labels[job.id] = f"{name}({job.args[0]!r}, priority={job.priority})"
        refs = await scheduler.push_many(jobs)
        await scheduler.resume()
        for ref in refs:  # they take well under a second; a short demo still waits for them
            await ref.wait(timeout=max(seconds, 10.0))
        await asyncio.sleep(max(seconds - (time.monotonic() - _started), 0))
    print("\nsummary (events by kind):", file=stream)
    for name, count in sorted(counts.items()):
        print(f"  {name.lower():<20} {count}", file=stream)
    return counts
