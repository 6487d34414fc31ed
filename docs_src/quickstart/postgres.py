"""Quick start, part two: the same scheduler on PostgreSQL.

Set ASYNCZ_QUEUE_DSN first, for example
    export ASYNCZ_QUEUE_DSN="postgresql://me:secret@localhost:5432/mydb"
"""

import asyncio
import os

from asyncz_queue import AsyncIOScheduler


def tick() -> None:
    print("tick")


async def add(a: int, b: int) -> int:
    return a + b


async def main() -> None:
    scheduler = AsyncIOScheduler(
        stores={"default": {"type": "postgres", "dsn": os.environ["ASYNCZ_QUEUE_DSN"]}}
    )
    await scheduler.migrate()  # creates (or upgrades) the tables; safe to run every time

    async with scheduler:
        await scheduler.add_task(tick, "interval", seconds=0.5, id="tick", replace_existing=True)

        ref = await scheduler.push(add, 2, 3)
        print("2 + 3 =", await ref.result(timeout=5))

        await asyncio.sleep(1.2)
        await scheduler.delete_task("tick")  # tasks are durable: they outlive the process


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# 2 + 3 = 5
# tick
# tick
