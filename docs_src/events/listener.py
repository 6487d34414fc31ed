"""Listeners: a callback per event, chosen by a mask of event codes."""

import asyncio

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events import JobEvent, SchedulerEvent, constants


def charge(amount: int) -> int:
    if amount < 0:
        raise ValueError("negative amount")
    return amount


def on_outcome(event: SchedulerEvent) -> None:
    assert isinstance(event, JobEvent)
    if event.code == constants.JOB_SUCCEEDED:
        print(f"{event.name}: returned {event.return_value}")
    else:
        print(f"{event.name}: {event.exception}")


async def audit(event: SchedulerEvent) -> None:  # coroutine listeners are awaited
    print("scheduler event:", event.name)


async def main() -> None:
    scheduler = AsyncIOScheduler()
    scheduler.add_listener(on_outcome, constants.JOB_SUCCEEDED | constants.JOB_FAILED)
    scheduler.add_listener(audit, constants.SCHEDULER_START | constants.SCHEDULER_SHUTDOWN)
    async with scheduler:
        for amount in (10, -1):
            ref = await scheduler.push(charge, amount)
            await ref.wait(timeout=5)
        scheduler.remove_listener(on_outcome)
        await (await scheduler.push(charge, 20)).wait(timeout=5)  # no longer reported


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# scheduler event: SCHEDULER_START
# TASK_EXECUTED: returned 10
# TASK_ERROR: ValueError: negative amount
# scheduler event: SCHEDULER_SHUTDOWN
