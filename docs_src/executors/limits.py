"""Limits: max_workers bounds how many jobs an executor runs at once."""

import asyncio

from asyncz_queue import AsyncIOScheduler, Job

running = 0
most = 0


async def work(n: int) -> int:
    global running, most
    running += 1
    most = max(most, running)
    await asyncio.sleep(0.1)
    running -= 1
    return n


async def main() -> None:
    scheduler = AsyncIOScheduler(executors={"default": {"type": "asyncio", "max_workers": 2}})
    async with scheduler:
        refs = await scheduler.push_many([Job.from_func(work, args=[n]) for n in range(6)])
        print([await ref.result(timeout=5) for ref in refs])
    print("at most", most, "at once")


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# [0, 1, 2, 3, 4, 5]
# at most 2 at once
