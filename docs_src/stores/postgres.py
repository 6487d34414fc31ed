"""The PostgreSQL store: configuration, migration, and durable tasks."""

import asyncio
import os

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.stores import PostgresStore

DSN = os.environ["ASYNCZ_QUEUE_DSN"]


def backup(database: str) -> str:
    return f"backed up {database}"


async def main() -> None:
    store = PostgresStore(
        DSN,
        schema="asyncz_queue",  # the tables live in this schema
        min_size=1,  # connection pool bounds
        max_size=10,
        serializer="json",  # the default; "pickle" is opt-in
    )
    scheduler = AsyncIOScheduler(stores={"default": store}, identity="backup-host-1")
    await scheduler.migrate()  # creates or upgrades the schema; idempotent

    async with scheduler:
        await scheduler.add_task(
            backup, "cron", hour=2, args=["orders"], id="nightly-backup", replace_existing=True
        )

    # A new scheduler (think: the next deployment) finds the task in the database.
    async with AsyncIOScheduler(stores={"default": {"type": "postgres", "dsn": DSN}}) as again:
        task = await again.get_task("nightly-backup")
        print(task.id, task.trigger)
        print(await (await again.run_task("nightly-backup")).result(timeout=5))
        await again.delete_task("nightly-backup")


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# nightly-backup CronTrigger(hour='2', minute='0', second='0', timezone='UTC')
# backed up orders
