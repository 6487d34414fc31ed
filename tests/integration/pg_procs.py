"""A scheduler process for the multi-process PostgreSQL tests, and the jobs it runs.

    python -m tests.integration.pg_procs DSN SCHEMA ROLE LOG_DIR [LEASE_SECONDS [MAX_WORKERS]]

prints `ready` once started and runs until SIGTERM/SIGINT. Every job attempt appends one
line to `LOG_DIR/<pid>.log`: `<event> <job id> <scheduled_at> <attempt> <pid>`; every job
handed over to the process's worker, its id to `LOG_DIR/<pid>.handed`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events import constants
from asyncz_queue.jobs import current_job
from asyncz_queue.stores.base import Notification
from asyncz_queue.stores.postgres import PostgresStore


def _log(event: str) -> None:
    job = current_job()
    assert job is not None
    _append("log", f"{event} {job.id} {job.scheduled_at.isoformat()} {job.attempts} {os.getpid()}")


def _append(kind: str, line: str) -> None:
    # One small O_APPEND write per line: lines of several processes never interleave.
    path = Path(os.environ["PG_PROCS_LOG_DIR"]) / f"{os.getpid()}.{kind}"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


class LoggingStore(PostgresStore):
    """A `PostgresStore` that logs the jobs handed over to this process's worker."""

    def notify(self, notification: Notification) -> None:
        if notification.kind == "handoff" and notification.payload is not None:
            _append("handed", notification.payload["job"].id)
        super().notify(notification)


async def record() -> None:
    """Log that this attempt ran."""
    _log("ran")


async def sleepy(seconds: float) -> None:
    """Log, then take `seconds`."""
    _log("ran")
    await asyncio.sleep(seconds)


async def slow_first(seconds: float) -> None:
    """The first attempt logs `start` and takes `seconds`; later ones finish at once."""
    job = current_job()
    assert job is not None
    _log("start")
    if job.attempts == 1:
        await asyncio.sleep(seconds)
    _log("end")


def read_log(log_dir: Path) -> list[list[str]]:
    """Every logged line of every process, split into fields."""
    return [
        line.split() for path in log_dir.glob("*.log") for line in path.read_text().splitlines()
    ]


def read_handed(log_dir: Path) -> dict[str, list[str]]:
    """The ids of the jobs handed over to each process (by pid), in order."""
    return {path.stem: path.read_text().split() for path in log_dir.glob("*.handed")}


async def main(dsn: str, schema: str, role: str, lease_seconds: float, workers: int) -> None:
    store = LoggingStore(dsn, schema=schema, poll_interval=0.5, max_size=4)
    scheduler = AsyncIOScheduler(
        stores={"default": store},
        executors={"default": {"type": "asyncio", "max_workers": workers}},
        role=role,  # type: ignore[arg-type]
        lease_seconds=lease_seconds,
    )
    scheduler.add_listener(
        lambda event: print(f"store error: {event}", file=sys.stderr, flush=True),
        constants.STORE_ERROR,
    )
    await scheduler.start()
    print("ready", flush=True)
    await scheduler.run_until_stopped()


if __name__ == "__main__":
    dsn, schema, role, log_dir = sys.argv[1:5]
    os.environ["PG_PROCS_LOG_DIR"] = log_dir
    lease = float(sys.argv[5]) if len(sys.argv) > 5 else 30.0
    workers = int(sys.argv[6]) if len(sys.argv) > 6 else 100
    asyncio.run(main(dsn, schema, role, lease, workers))
