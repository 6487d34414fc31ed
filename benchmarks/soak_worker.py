"""The processes of the fault-injection soak (`benchmarks/soak.py`) and its job functions.

    python -m benchmarks.soak_worker worker --identity w1
    python -m benchmarks.soak_worker producer --duration 60 --rate 15 --out pushed.txt

Both read `SOAK_DSN` (the store's connection string, with an `application_name` naming the
process so the harness can find its connections), `SOAK_AUDIT_DSN` (where job functions
record themselves) and `SOAK_SCHEMA` from the environment.

Every attempt of a job function inserts one row into `soak_audit.executions` with its own
short connection before doing its "work" (a sleep). An attempt that could not record itself
raises, so it counts as a failed attempt and is retried: an execution is an audit row.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from asyncz_queue import AsyncIOScheduler, Job
from asyncz_queue.exceptions import StoreUnavailableError
from asyncz_queue.jobs import current_job
from asyncz_queue.stores.postgres.store import COPY_AT

logger = logging.getLogger("soak")

#: Job functions are stored by this name (the workers run this file as `__main__`).
MODULE = "benchmarks.soak_worker"
AUDIT_SCHEMA = "soak_audit"
_INSERT_EXECUTION = (
    f"INSERT INTO {AUDIT_SCHEMA}.executions "
    "(job_id, attempt, task_id, scheduled_at, worker, pid) VALUES (%s, %s, %s, %s, %s, %s)"
)


def _execution_row() -> tuple[Any, ...]:
    job = current_job()
    if job is None:
        raise RuntimeError("soak job ran outside an executor (no current job)")
    identity = os.environ.get("SOAK_IDENTITY", "?")
    return (job.id, job.attempts, job.task_id, job.scheduled_at, identity, os.getpid())


def _fails(attempt: int, fail_first: float) -> bool:
    return attempt == 1 and random.random() < float(fail_first)


async def audited(sleep: float = 0.0, fail_first: float = 0.0) -> str:
    """A coroutine job: record the attempt, sleep `sleep` s (a random 0-0.2 s when
    negative), and fail its first attempt with probability `fail_first` (True: always)."""
    row = _execution_row()
    conn = await psycopg.AsyncConnection.connect(
        os.environ["SOAK_AUDIT_DSN"], autocommit=True, connect_timeout=5
    )
    async with conn:
        await conn.execute(_INSERT_EXECUTION, row)
    await asyncio.sleep(sleep if sleep >= 0 else random.uniform(0, 0.2))
    if _fails(row[1], fail_first):
        raise RuntimeError("planned failure of the first attempt")
    return "ok"


def audited_sync(sleep: float = 0.0, fail_first: float = 0.0) -> str:
    """The same as `audited`, as a plain function (runs in the executor's thread)."""
    row = _execution_row()
    with psycopg.connect(os.environ["SOAK_AUDIT_DSN"], autocommit=True, connect_timeout=5) as conn:
        conn.execute(_INSERT_EXECUTION, row)
    time.sleep(sleep if sleep >= 0 else random.uniform(0, 0.2))
    if _fails(row[1], fail_first):
        raise RuntimeError("planned failure of the first attempt")
    return "ok"


# ---- worker ----------------------------------------------------------------------------


def _store_config(max_size: int) -> dict[str, Any]:
    return {
        "type": "postgres",
        "dsn": os.environ["SOAK_DSN"],
        "schema": os.environ["SOAK_SCHEMA"],
        "min_size": 1,
        "max_size": max_size,
        "poll_interval": 1.0,
        "timeout": 5.0,
    }


def _find_pool(obj: Any, depth: int = 2) -> AsyncConnectionPool[Any] | None:
    """The psycopg pool inside the store, wherever its private attributes keep it."""
    for value in vars(obj).values():
        if isinstance(value, AsyncConnectionPool):
            return value
        if depth and hasattr(value, "__dict__") and not isinstance(value, type):
            found = _find_pool(value, depth - 1)
            if found is not None:
                return found
    return None


async def _hold_pool(scheduler: AsyncIOScheduler, seconds: float) -> None:
    """Fault: take every connection of the store's pool for `seconds` (a full pool)."""
    pool = _find_pool(scheduler.stores["default"])
    if pool is None:
        logger.error("no connection pool found in the store: the pool fault does nothing")
        return
    held = []
    try:
        for _ in range(pool.max_size):
            held.append(await pool.getconn(timeout=seconds))
        logger.warning("holding all %d pool connections for %.1f s", len(held), seconds)
        await asyncio.sleep(seconds)
    except Exception as exc:
        logger.warning("could not fill the pool: %s", exc)
    finally:
        for conn in held:
            await pool.putconn(conn)


async def run_worker(args: argparse.Namespace) -> None:
    os.environ["SOAK_IDENTITY"] = args.identity
    scheduler = AsyncIOScheduler(
        stores={"default": _store_config(args.max_size)},
        executors={"default": {"type": "asyncio", "max_workers": args.concurrency}},
        identity=args.identity,
        role="both",
        lease_seconds=args.lease,
        job_retention=None,
    )
    loop = asyncio.get_running_loop()
    holding: set[asyncio.Task[None]] = set()

    def on_usr1() -> None:
        task = loop.create_task(_hold_pool(scheduler, args.lease * 1.5))
        holding.add(task)
        task.add_done_callback(holding.discard)

    loop.add_signal_handler(signal.SIGUSR1, on_usr1)
    # start() needs the database; keep trying while a fault keeps it away.
    for attempt in range(60):
        try:
            await scheduler.start()
            break
        except Exception as exc:
            logger.warning("start failed (attempt %d): %s", attempt + 1, exc)
            await asyncio.sleep(0.5)
    else:
        raise SystemExit(3)
    print(f"READY {args.identity} {os.getpid()}", flush=True)
    await scheduler.run_until_stopped()


# ---- producer ---------------------------------------------------------------------------


def _make_job(rng: random.Random, now: datetime) -> Job:
    fn = f"{MODULE}:audited" if rng.random() < 0.8 else f"{MODULE}:audited_sync"
    # Mostly short jobs; a few long enough that a fault usually lands while they run.
    sleep = rng.uniform(2.0, 4.0) if rng.random() < 0.05 else rng.uniform(0.0, 0.3)
    job = Job.from_func(
        fn,
        kwargs={"sleep": round(sleep, 3), "fail_first": rng.random() < 0.05},
        priority=rng.choice((0, 0, 0, 1, -1)),
        max_attempts=10,
        retry_backoff=0.2,
        retry_backoff_max=1.0,
    )
    if rng.random() < 0.1:
        job = job.with_scheduled_at(now + timedelta(seconds=rng.uniform(0, 3)))
    return job


async def _push(scheduler: AsyncIOScheduler, jobs: list[Job], deadline: float) -> list[str]:
    """Push `jobs` until the store confirms; the same ids make a retry idempotent."""
    while True:
        try:
            refs = await scheduler.push_many(jobs)
            return [ref.job_id for ref in refs]
        except (StoreUnavailableError, psycopg.Error, OSError) as exc:
            if time.monotonic() > deadline:
                raise
            logger.warning("push of %d job(s) failed, retrying: %s", len(jobs), exc)
            await asyncio.sleep(0.2)


async def run_producer(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    scheduler = AsyncIOScheduler(
        stores={"default": _store_config(2)}, identity="producer", role="scheduler"
    )
    await scheduler.start(paused=True)  # paused: it pushes, it never fires
    out = Path(args.out)
    pushed = 0
    end = time.monotonic() + args.duration
    try:
        with out.open("a") as sink:
            while time.monotonic() < end:
                now = datetime.now(UTC)
                # Mostly one job, sometimes a few, and now and then a burst big enough to
                # take the store's COPY path.
                draw = rng.random()
                count = COPY_AT if draw < 0.01 else rng.randint(2, 20) if draw < 0.3 else 1
                jobs = [_make_job(rng, now) for _ in range(count)]
                ids = await _push(scheduler, jobs, end + 120)
                sink.writelines(f"{job_id}\n" for job_id in ids)
                sink.flush()
                pushed += len(ids)
                await asyncio.sleep(rng.expovariate(args.rate / count))
    finally:
        with contextlib.suppress(Exception):
            await scheduler.shutdown()
    print(f"PUSHED {pushed}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--identity", required=True)
    worker.add_argument("--lease", type=float, default=2.0)
    worker.add_argument("--concurrency", type=int, default=10)
    worker.add_argument("--max-size", type=int, default=4)
    producer = sub.add_parser("producer")
    producer.add_argument("--duration", type=float, required=True)
    producer.add_argument("--rate", type=float, default=15.0)
    producer.add_argument("--seed", type=int, default=0)
    producer.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s {getattr(args, 'identity', 'producer')} %(name)s: %(message)s",
    )
    runner = run_worker if args.command == "worker" else run_producer
    asyncio.run(runner(args))


if __name__ == "__main__":
    main()
