"""Retries: max_attempts, retry_on and exponential backoff with full jitter."""

import asyncio

from asyncz_queue import AsyncIOScheduler, Job, JobState, current_job


class FlakyNetworkError(Exception):
    pass


async def fetch(url: str) -> str:
    job = current_job()
    assert job is not None
    if job.attempts < 3:  # `attempts` counts this attempt too: 1, 2, 3
        raise FlakyNetworkError(f"attempt {job.attempts}: connection reset")
    return f"fetched {url}"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        job = Job.from_func(
            fetch,
            args=["https://example.com"],
            max_attempts=5,
            retry_on=[FlakyNetworkError],  # other exceptions fail at once
            retry_backoff=0.05,  # the n-th retry waits up to 0.05 * 2**(n-1) seconds
            retry_backoff_max=1.0,  # ... and never more than this
        )
        ref = await scheduler.push(job)
        finished = await ref.wait(timeout=10)
        print(finished.state is JobState.SUCCEEDED, finished.result)
        print("attempts:", finished.attempts)
        # The traceback of every failed attempt is kept, also after a success.
        for text in finished.errors:
            print(text.strip().splitlines()[-1])


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# True fetched https://example.com
# attempts: 3
# FlakyNetworkError: attempt 1: connection reset
# FlakyNetworkError: attempt 2: connection reset
