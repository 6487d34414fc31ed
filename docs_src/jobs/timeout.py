"""Timeouts: an attempt that runs longer than its timeout fails with TimeoutError."""

import asyncio

from asyncz_queue import AsyncIOScheduler, Job


async def crawl(site: str) -> str:
    await asyncio.sleep(10)
    return f"crawled {site}"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        ref = await scheduler.push(Job.from_func(crawl, args=["example.org"], timeout=0.2))
        job = await ref.wait(timeout=5)
        print(job.state, job.error_type, "-", job.error)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# failed TimeoutError - the job did not finish within its timeout of 0.2 s
