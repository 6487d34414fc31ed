"""subscribe(): an async iterator over events, for code that prefers pulling to callbacks."""

import asyncio

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events import JobEvent, SchedulerEvent, constants


async def square(n: int) -> int:
    return n * n


async def watch(events: "asyncio.Queue[str]", scheduler: AsyncIOScheduler) -> None:
    mask = constants.JOB_PUSHED | constants.JOB_STARTED | constants.JOB_SUCCEEDED
    event: SchedulerEvent
    async for event in scheduler.subscribe(mask):  # ends when the scheduler shuts down
        assert isinstance(event, JobEvent)
        await events.put(f"{event.name.lower()} (attempt {event.attempt})")


async def main() -> None:
    events: asyncio.Queue[str] = asyncio.Queue()
    async with AsyncIOScheduler() as scheduler:
        watcher = asyncio.create_task(watch(events, scheduler))
        await asyncio.sleep(0)  # let the watcher subscribe
        ref = await scheduler.push(square, 7)
        print("result:", await ref.result(timeout=5))
    await watcher
    while not events.empty():
        print(events.get_nowait())


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# result: 49
# job_pushed (attempt 0)
# job_started (attempt 1)
# task_executed (attempt 1)
