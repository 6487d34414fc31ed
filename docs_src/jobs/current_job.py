"""current_job(): the job whose attempt is running, from inside the called function."""

import asyncio

from asyncz_queue import AsyncIOScheduler, current_job


def report(kind: str) -> str:
    job = current_job()  # None outside a job
    assert job is not None
    return f"{kind} report, attempt {job.attempts} of {job.max_attempts}, task {job.task_id}"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        ref = await scheduler.push(report, "sales")
        print(await ref.result(timeout=5))

        await scheduler.add_task(
            report, "cron", day_of_week="mon", hour=7, args=["weekly"], id="weekly-report"
        )
        task_ref = await scheduler.run_task("weekly-report")  # one run now
        print(await task_ref.result(timeout=5))
    print(current_job())


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# sales report, attempt 1 of 1, task None
# weekly report, attempt 1 of 1, task weekly-report
# None
