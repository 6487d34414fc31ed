"""Quick start: a scheduler on the memory store — a task on a trigger and a pushed job."""

import asyncio

from asyncz_queue import AsyncIOScheduler


def tick() -> None:
    print("tick")


async def add(a: int, b: int) -> int:
    return a + b


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        # A task: `tick` every half second, from now on.
        await scheduler.add_task(tick, "interval", seconds=0.5, id="tick")

        # A job: one call of `add`, run as soon as a worker is free.
        ref = await scheduler.push(add, 2, 3)
        print("2 + 3 =", await ref.result(timeout=5))

        await asyncio.sleep(1.2)  # let the task fire a couple of times


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# 2 + 3 = 5
# tick
# tick
