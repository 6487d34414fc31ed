"""Late fire times: coalescing and the misfire grace time."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events import SchedulerEvent, TaskEvent, constants

runs: Counter[str] = Counter()
missed: Counter[str] = Counter()


async def poll_feed(name: str) -> None:
    runs[name] += 1


def on_missed(event: SchedulerEvent) -> None:
    assert isinstance(event, TaskEvent)
    missed[event.task_id or ""] += 1


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        scheduler.add_listener(on_missed, constants.TASK_MISSED)
        # Pretend the process was down: both tasks fire every second, and their last
        # run time was 5.5 seconds ago, so six run times are due at once.
        late = datetime.now(UTC) - timedelta(seconds=5.5)
        await scheduler.pause()
        for task_id, coalesce in (("coalesced", True), ("one-by-one", False)):
            await scheduler.add_task(
                poll_feed,
                "interval",
                seconds=1,
                start_at=late,
                next_run_time=late,
                args=[task_id],
                id=task_id,
                coalesce=coalesce,  # True: the due run times collapse into the latest one
                mistrigger_grace_time=2,  # run times older than 2 s are missed
                max_instances=2,
            )
        await scheduler.resume()
        await asyncio.sleep(0.3)
    for task_id in ("coalesced", "one-by-one"):
        print(f"{task_id}: ran {runs[task_id]}, missed {missed[task_id]}")


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# coalesced: ran 1, missed 0
# one-by-one: ran 2, missed 4
