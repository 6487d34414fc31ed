"""A job that fails: wait() returns it, result() raises JobFailedError."""

import asyncio

from asyncz_queue import AsyncIOScheduler, JobState
from asyncz_queue.exceptions import JobFailedError


def divide(a: int, b: int) -> float:
    return a / b


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        ref = await scheduler.push(divide, 1, 0)

        job = await ref.wait(timeout=5)
        print(job.state is JobState.FAILED, job.error_type, job.error)

        try:
            await ref.result(timeout=5)
        except JobFailedError as exc:
            print("failed:", exc.error_type, "-", exc.message)
            print(exc.traceback.strip().splitlines()[-1])

        slow = await scheduler.push(asyncio.sleep, 10)
        try:
            await slow.wait(timeout=0.1)
        except TimeoutError:
            print("still running after 0.1 s")
        await scheduler.cancel_job(slow.job_id)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# True ZeroDivisionError division by zero
# failed: ZeroDivisionError - division by zero
# ZeroDivisionError: division by zero
# still running after 0.1 s
