"""Retention: finished jobs are deleted job_retention seconds after they finish."""

import asyncio

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import JobLookupError


def ping() -> str:
    return "pong"


async def main() -> None:
    # Keep finished jobs for 0.2 s (the default is one day; None keeps them forever).
    # Housekeeping runs every lease_seconds / 3, so a short lease makes it run often here.
    scheduler = AsyncIOScheduler(job_retention=0.2, lease_seconds=0.6)
    async with scheduler:
        ref = await scheduler.push(ping)
        print(await ref.result(timeout=5))
        print(len(await scheduler.get_jobs()), "job kept")
        await asyncio.sleep(0.8)
        try:
            await scheduler.get_job(ref.job_id)
        except JobLookupError as exc:
            print(exc)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# pong
# 1 job kept
# no job with id ...
