"""Several schedulers on one database: each run time fires once, each job runs once.

The three schedulers here share one process for the sake of a short example; they talk to
each other only through PostgreSQL, exactly as separate processes on separate hosts would.
"""

import asyncio
import os
from collections import Counter

from asyncz_queue import AsyncIOScheduler, current_job
from asyncz_queue.events import JobEvent, SchedulerEvent, constants

DSN = os.environ["ASYNCZ_QUEUE_DSN"]
runs: Counter[str] = Counter()


def tick(label: str) -> str:
    job = current_job()
    assert job is not None
    runs[job.scheduled_at.isoformat()] += 1
    return label


def make_scheduler(identity: str, role: str) -> AsyncIOScheduler:
    return AsyncIOScheduler(
        stores={"default": {"type": "postgres", "dsn": DSN}},
        identity=identity,
        role=role,  # "scheduler" fires triggers, "worker" runs jobs, "both" does both
    )


async def main() -> None:
    await make_scheduler("setup", "both").migrate()
    # Two schedulers compete to fire the task, two workers compete to run its jobs.
    seen_from: set[str] = set()

    def on_success(event: SchedulerEvent) -> None:
        assert isinstance(event, JobEvent)
        seen_from.add(event.scheduler_identity or "?")

    firers = [make_scheduler(f"firer-{n}", "scheduler") for n in (1, 2)]
    workers = [make_scheduler(f"worker-{n}", "worker") for n in (1, 2)]
    firers[0].add_listener(on_success, constants.JOB_SUCCEEDED)
    for scheduler in firers + workers:
        await scheduler.start()
    try:
        await firers[0].add_task(tick, "interval", seconds=0.2, args=["tick"], id="tick")
        await asyncio.sleep(2)
        await firers[0].delete_task("tick")
        await asyncio.sleep(0.5)  # let the last jobs finish
    finally:
        for scheduler in firers + workers:
            await scheduler.shutdown()

    print("run times fired:", len(runs) >= 5)
    print("each ran exactly once:", set(runs.values()) == {1})
    # The listener of a process that runs no jobs heard about them from the workers.
    print("successes reported by:", sorted(seen_from - {"firer-1", "firer-2"}))


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# run times fired: True
# each ran exactly once: True
# successes reported by: ...worker...
