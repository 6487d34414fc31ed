"""Priority: lower values run first; equal priorities run in scheduled_at, then push order."""

import asyncio

from asyncz_queue import AsyncIOScheduler, Job

order: list[str] = []


async def record(name: str) -> None:
    order.append(name)


async def main() -> None:
    # One worker slot, so the jobs run one after another and the order shows.
    scheduler = AsyncIOScheduler(executors={"default": {"type": "asyncio", "max_workers": 1}})
    async with scheduler:
        await scheduler.pause()  # queue everything first, then let the worker choose
        jobs = [
            Job.from_func(record, args=["normal-1"]),
            Job.from_func(record, args=["low"], priority=10),
            Job.from_func(record, args=["urgent"], priority=-5),
            Job.from_func(record, args=["normal-2"]),
        ]
        refs = await scheduler.push_many(jobs)
        await scheduler.resume()
        for ref in refs:
            await ref.wait(timeout=5)
    print(order)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# ['urgent', 'normal-1', 'normal-2', 'low']
