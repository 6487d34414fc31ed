"""Transactional push (PostgreSQL): the job exists only if your transaction commits."""

import asyncio
import os

import psycopg

from asyncz_queue import AsyncIOScheduler, Job, Reference

DSN = os.environ["ASYNCZ_QUEUE_DSN"]


async def send_confirmation(order_id: int) -> str:
    return f"confirmation for order {order_id} sent"


async def place_order(
    scheduler: AsyncIOScheduler, conn: psycopg.AsyncConnection, order_id: int, paid: bool
) -> Reference:
    """Insert the order and queue its confirmation in one transaction."""
    async with conn.transaction():
        await conn.execute("INSERT INTO orders (id) VALUES (%s)", [order_id])
        job = Job.from_func(send_confirmation, args=[order_id])
        ref = await scheduler.push(job, connection=conn)  # written in this transaction
        if not paid:
            raise ValueError("payment declined")  # rolls back the order and the job
    return ref


async def main() -> None:
    scheduler = AsyncIOScheduler(stores={"default": {"type": "postgres", "dsn": DSN}})
    await scheduler.migrate()
    async with scheduler, await psycopg.AsyncConnection.connect(DSN) as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY)")
        await conn.commit()

        ref = await place_order(scheduler, conn, 1, paid=True)
        print(await ref.result(timeout=5))

        try:
            await place_order(scheduler, conn, 2, paid=False)
        except ValueError as exc:
            print("rolled back:", exc)
        print("jobs:", [job.args for job in await scheduler.get_jobs()])


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# confirmation for order 1 sent
# rolled back: payment declined
# jobs: [(1,)]
