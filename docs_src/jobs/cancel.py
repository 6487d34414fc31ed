"""Cancelling jobs: a waiting one never runs, a running one is stopped where it runs."""

import asyncio
from datetime import UTC, datetime, timedelta

from asyncz_queue import AsyncIOScheduler, Job, JobState


async def long_export(name: str) -> str:
    await asyncio.sleep(60)
    return f"{name} exported"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        waiting = await scheduler.push(
            Job.from_func(long_export, args=["tomorrow"], scheduled_at=tomorrow)
        )
        job = await scheduler.cancel_job(waiting.job_id)
        print("waiting job:", job.state)

        running = await scheduler.push(long_export, "now")
        while (await running.get()).state is not JobState.RUNNING:
            await asyncio.sleep(0.01)
        await scheduler.cancel_job(running.job_id)  # asks the executor to stop it
        job = await running.wait(timeout=5)
        print("running job:", job.state, "-", job.error)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# waiting job: cancelled
# running job: cancelled - the job was cancelled while it ran
