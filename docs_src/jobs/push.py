"""Pushing jobs and awaiting them through a Reference."""

import asyncio

from asyncz_queue import AsyncIOScheduler, Job, JobState


async def resize(image: str, width: int) -> str:
    await asyncio.sleep(0.05)
    return f"{image}@{width}px"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        # The short form: a callable and its arguments.
        ref = await scheduler.push(resize, "cat.png", width=320)

        # The long form: a Job, built once and adjusted with with_*() copies.
        job = Job.from_func(resize, args=["dog.png"], kwargs={"width": 640})
        urgent = job.with_priority(-10).with_max_attempts(3)
        ref2 = await scheduler.push(urgent)

        print(ref.job_id == (await ref.get()).id)  # get(): the job as stored now
        print(await ref.result(timeout=5))  # the return value (or JobFailedError)

        finished = await ref2.wait(timeout=5)  # the finished Job, whatever its outcome
        print(finished.state is JobState.SUCCEEDED, finished.result, finished.attempts)
        print(finished.started_at <= finished.completed_at)

        # Several jobs in one store call; the references come back in the same order.
        refs = await scheduler.push_many(
            [Job.from_func(resize, args=[f"{n}.png", 100]) for n in range(3)]
        )
        print([await r.result(timeout=5) for r in refs])


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# True
# cat.png@320px
# True dog.png@640px 1
# True
# ['0.png@100px', '1.png@100px', '2.png@100px']
