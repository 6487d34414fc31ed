"""Managing tasks: look up, pause, resume, reschedule, run now, preview, delete."""

import asyncio
from datetime import UTC, datetime

from asyncz_queue import AsyncIOScheduler


async def rotate_logs(path: str) -> str:
    return f"rotated {path}"


async def main() -> None:
    async with AsyncIOScheduler() as scheduler:
        await scheduler.add_task(rotate_logs, "cron", hour=0, args=["/var/log/app"], id="rotate")

        task = await scheduler.get_task("rotate")
        print("paused:", task.paused)

        await scheduler.pause_task("rotate")  # next_run_time becomes None
        print("paused:", (await scheduler.get_task("rotate")).paused)
        await scheduler.resume_task("rotate")  # next run time computed from now

        # A new trigger; the next run time is computed from now.
        await scheduler.reschedule_task(
            "rotate", "cron", hour="*/6", start_at=datetime(2030, 1, 1, tzinfo=UTC)
        )
        for when in await scheduler.preview_task_runs("rotate", count=3):
            print("will run at", when.isoformat())

        # Change other fields; the trigger stays.
        await scheduler.update_task("rotate", args=["/srv/logs"], priority=5)

        # Run it once now, outside its schedule; the task keeps its schedule.
        ref = await scheduler.run_task("rotate")
        print(await ref.result(timeout=5))

        await scheduler.delete_task("rotate")
        print("tasks left:", await scheduler.get_tasks())


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# paused: False
# paused: True
# will run at 2030-01-01T00:00:00+00:00
# will run at 2030-01-01T06:00:00+00:00
# will run at 2030-01-01T12:00:00+00:00
# rotated /srv/logs
# tasks left: []
