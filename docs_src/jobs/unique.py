"""Unique keys: while a job holding a key is unfinished, pushing the key returns that job."""

import asyncio

from asyncz_queue import AsyncIOScheduler, Job


async def rebuild_index(shop: str) -> str:
    await asyncio.sleep(0.2)
    return f"index of {shop} rebuilt"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        job = Job.from_func(rebuild_index, args=["shop-42"], unique_key="reindex:shop-42")
        first = await scheduler.push(job)
        # Another push with the same key while the first one is pending or running...
        again = await scheduler.push(job.with_priority(-1))
        print(again == first)  # ... is a reference to the first job

        print(await first.result(timeout=5))
        # Once that job has finished, the key is free again.
        fresh = Job.from_func(rebuild_index, args=["shop-42"], unique_key="reindex:shop-42")
        later = await scheduler.push(fresh)
        print(later == first)
        await later.wait(timeout=5)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# True
# index of shop-42 rebuilt
# False
