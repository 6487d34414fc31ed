"""The application module that the web process and every worker import."""

import asyncio
import os

from asyncz_queue import AsyncIOScheduler, current_job

DSN = os.environ["ASYNCZ_QUEUE_DSN"]


async def send_invoice(order_id: int) -> str:
    await asyncio.sleep(0.1)
    job = current_job()
    worker = job.worker_id if job is not None else "?"
    return f"invoice {order_id} sent by {worker.split('-')[0]}"


def make_scheduler(role: str) -> AsyncIOScheduler:
    """One configuration for every process; only the role differs."""
    return AsyncIOScheduler(
        stores={"default": {"type": "postgres", "dsn": DSN, "max_size": 5}},
        executors={"default": {"type": "asyncio", "max_workers": 5}},
        role=role,
        identity=os.environ.get("WORKER_NAME"),  # None: host, pid and a random tag
    )


# `asyncz-queue worker myapp:worker` runs this one: it runs jobs and fires nothing.
worker = make_scheduler("worker")
