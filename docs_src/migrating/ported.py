"""An Asyncz-style program, ported: the same names, awaited."""

import asyncio

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events import SchedulerEvent, constants


def cleanup(folder: str) -> None:  # module level: stores keep "module:qualname"
    print("cleaning", folder)


def on_error(event: SchedulerEvent) -> None:
    print("task failed:", event.exception)


async def main() -> None:
    scheduler = AsyncIOScheduler(
        executors={"default": {"type": "asyncio"}},
        task_defaults={"coalesce": True, "max_instances": 1},
        timezone="UTC",  # Asyncz defaults to the local time zone; asyncz_queue to UTC
    )
    scheduler.add_listener(on_error, constants.TASK_ERROR)
    await scheduler.start()  # was: scheduler.start()
    await scheduler.add_task(cleanup, "interval", seconds=0.2, args=["/tmp"], id="cleanup")
    await scheduler.pause_task("cleanup")  # was: scheduler.pause_task("cleanup")
    await scheduler.resume_task("cleanup")
    await asyncio.sleep(0.3)
    await scheduler.shutdown()  # was: scheduler.shutdown()


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# cleaning /tmp
