"""Run later: a job with scheduled_at in the future waits until then."""

import asyncio
from datetime import UTC, datetime, timedelta

from asyncz_queue import AsyncIOScheduler, Job, JobState


async def send_reminder(user: str) -> str:
    return f"reminded {user}"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        soon = datetime.now(UTC) + timedelta(seconds=0.5)
        ref = await scheduler.push(Job.from_func(send_reminder, args=["ada"], scheduled_at=soon))
        print((await ref.get()).state is JobState.PENDING)
        job = await ref.wait(timeout=5)
        print(job.result, job.started_at >= soon)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# True
# reminded ada True
