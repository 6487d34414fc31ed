"""Adding tasks: a trigger alias with its arguments, or a trigger instance."""

import asyncio

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.triggers import CronTrigger


async def send_digest(team: str, *, channel: str = "email") -> str:
    return f"digest for {team} by {channel}"


async def main() -> None:
    scheduler = AsyncIOScheduler(timezone="Europe/Paris")
    async with scheduler:
        # The alias form: the trigger is built from the extra keyword arguments.
        nightly = await scheduler.add_task(
            send_digest,
            "cron",
            hour=3,
            minute=30,
            args=["ops"],
            kwargs={"channel": "chat"},
            id="nightly-digest",
            name="Nightly digest for ops",
        )
        # The instance form: build the trigger yourself.
        weekly = await scheduler.add_task(
            send_digest,
            CronTrigger(day_of_week="mon", hour=9, timezone="America/New_York"),
            args=["sales"],
            id="weekly-digest",
        )

        print(nightly.trigger)
        print(weekly.trigger)
        print(sorted(task.id for task in await scheduler.get_tasks()))


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# CronTrigger(hour='3', minute='30', second='0', timezone='Europe/Paris')
# CronTrigger(day_of_week='mon', hour='9', minute='0', second='0', timezone='America/New_York')
# ['nightly-digest', 'weekly-digest']
