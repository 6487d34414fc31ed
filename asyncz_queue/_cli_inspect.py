"""`asyncz-queue migrate | tasks | jobs | jobs prune | status`: look into a store.

The store is PostgreSQL (`--dsn`, or the `ASYNCZ_QUEUE_DSN` environment variable) or one of
the stores of a scheduler named with `--app package.module:attribute`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from asyncz_queue._cli_common import (
    DSN_ENV,
    CommandError,
    format_time,
    one_line,
    print_json,
    print_table,
    shorten,
)
from asyncz_queue._cli_render import describe_trigger, print_job, print_status, status_report
from asyncz_queue._cli_worker import load_scheduler
from asyncz_queue.exceptions import JobLookupError, UnknownAliasError
from asyncz_queue.jobs import JobState, utcnow
from asyncz_queue.stores import BaseStore

#: Seconds to wait for the database to answer before giving up.
CONNECT_TIMEOUT = 5
#: How many finished jobs one `prune_jobs` call deletes.
PRUNE_BATCH = 1000
#: How many jobs per state `status` counts at most.
STATUS_LIMIT = 10_000


def _identity() -> str:
    return f"asyncz-queue-cli@{socket.gethostname()}:{os.getpid()}"


async def _build_store(args: argparse.Namespace) -> tuple[BaseStore, list[str | None]]:
    """The store the options name, and the secrets to keep out of messages."""
    if args.app:
        scheduler = load_scheduler(args.app)
        try:
            return scheduler.store(args.store), []
        except UnknownAliasError as exc:
            raise CommandError(str(exc), 2) from None
    dsn = args.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        raise CommandError(f"no database given: pass --dsn or set {DSN_ENV} (or use --app)", 2)
    from asyncz_queue.stores.postgres import PostgresStore
    from asyncz_queue.stores.postgres.dsn import password_of

    secret = password_of(dsn)
    try:
        # One short-lived process: no LISTEN connection, a small pool, a quick give-up.
        store = PostgresStore(
            dsn, schema=args.schema, listen=False, max_size=2, timeout=CONNECT_TIMEOUT
        )
    except Exception as exc:
        raise CommandError(f"cannot use this DSN: {one_line(exc, [secret])}", 2) from None
    return store, [secret]


@asynccontextmanager
async def opened_store(args: argparse.Namespace, start: bool = True) -> AsyncIterator[BaseStore]:
    """The store of the options, started (unless `start=False`) and shut down after use.

    Every failure inside becomes a one-line `CommandError` without passwords.
    """
    store, secrets = await _build_store(args)
    if start:
        try:
            await store.start(_identity())
        except Exception as exc:
            raise CommandError(one_line(exc, secrets)) from None
    try:
        yield store
    except (CommandError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise CommandError(one_line(exc, secrets)) from None
    finally:
        if start:
            with contextlib.suppress(Exception):
                await store.shutdown()


async def migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the store's schema."""
    async with opened_store(args, start=False) as store:
        await store.migrate()
    where = f"schema {args.schema!r}" if not args.app else f"store {args.store!r}"
    if args.json:
        print_json({"migrated": True, "store": args.store if args.app else args.schema})
    else:
        print(f"{where} is up to date")
    return 0


async def show_tasks(args: argparse.Namespace) -> int:
    """List the tasks with their trigger, next run time, paused state and executor."""
    async with opened_store(args) as store:
        tasks = await store.get_tasks()
    if args.json:
        print_json([task.model_dump(mode="json") for task in tasks])
    elif not tasks:
        print("no tasks")
    else:
        print_table(
            ["ID", "NAME", "FN", "TRIGGER", "NEXT RUN (UTC)", "PAUSED", "EXECUTOR"],
            (
                [
                    t.id,
                    t.name,
                    t.fn,
                    describe_trigger(t.trigger),
                    t.next_run_time,
                    t.paused,
                    t.executor,
                ]
                for t in tasks
            ),
        )
    return 0


async def show_jobs(args: argparse.Namespace) -> int:
    """List jobs (newest first), or show one job with its errors (`--id`)."""
    if args.id:
        return await show_job(args)
    state = JobState(args.state) if args.state else None
    async with opened_store(args) as store:
        jobs = await store.get_jobs(state=state, task_id=args.task, limit=args.limit)
    if args.json:
        print_json([job.model_dump(mode="json") for job in jobs])
    elif not jobs:
        print("no jobs")
    else:
        print_table(
            ["ID", "STATE", "FN", "TASK", "EXECUTOR", "ATTEMPTS", "SCHEDULED (UTC)", "ERROR"],
            (
                [
                    j.id,
                    j.state.value,
                    j.fn,
                    j.task_id,
                    j.executor,
                    f"{j.attempts}/{j.max_attempts}",
                    j.scheduled_at,
                    _short_error(j.error_type, j.error),
                ]
                for j in jobs
            ),
        )
    return 0


def _short_error(error_type: str | None, error: str | None) -> str | None:
    if error_type is None:
        return None
    return shorten(f"{error_type}: {error}" if error else error_type, 60)


async def show_job(args: argparse.Namespace) -> int:
    """Show one job, every field and the traceback of each failed attempt."""
    async with opened_store(args) as store:
        try:
            job = await store.get_job(args.id)
        except JobLookupError:
            raise CommandError(f"no job with id {args.id!r}") from None
    if args.json:
        print_json(job.model_dump(mode="json"))
    else:
        print_job(job)
    return 0


async def prune_jobs(args: argparse.Namespace) -> int:
    """Delete finished jobs that completed more than `--older-than` seconds ago."""
    cutoff = utcnow() - timedelta(seconds=args.older_than)
    pruned = 0
    async with opened_store(args) as store:
        while True:
            count = await store.prune_jobs(cutoff, limit=PRUNE_BATCH)
            pruned += count
            if count < PRUNE_BATCH:
                break
    if args.json:
        print_json({"pruned": pruned, "finished_before": cutoff})
    else:
        print(f"pruned {pruned} finished job(s) completed before {format_time(cutoff)}")
    return 0


async def show_status(args: argparse.Namespace) -> int:
    """Per executor: running, waiting and recently failed jobs; per process: its heartbeat."""
    states = (JobState.RUNNING, JobState.PENDING, JobState.RETRYING, JobState.FAILED)
    async with opened_store(args) as store:
        jobs = {state: await store.get_jobs(state=state, limit=STATUS_LIMIT) for state in states}
        tasks = await store.get_tasks()
        heartbeats = await store.get_processes()
    report: dict[str, Any] = status_report(jobs, tasks, heartbeats, utcnow(), STATUS_LIMIT)
    if args.json:
        print_json(report)
    else:
        print_status(report)
    return 0
