"""The three queues `bench_postgres.py` compares, each behind the same small interface.

Every system pushes no-op jobs, and runs one worker process that either drains a known
number of jobs or, for latency, records how long after its push each job started
(`time.monotonic()` is one clock for every process of the machine).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

Command = Callable[[], Awaitable[str]]

# ---- job functions (imported by name in the worker processes) -------------------------

_done = 0
_target: int | None = None
_finished: asyncio.Event | None = None
latencies: list[float] = []


def _count() -> None:
    global _done
    _done += 1
    if _finished is not None and _done == _target:
        _finished.set()


def _arm(target: int) -> asyncio.Event:
    global _done, _target, _finished
    _done, _target, _finished = 0, target, asyncio.Event()
    return _finished


async def noop(t0: float | None = None) -> None:
    """The benchmark's job: note when it started, do nothing."""
    if t0 is not None:
        latencies.append(time.monotonic() - t0)
    _count()


class System(ABC):
    """One queue library: schema setup, pushing, and a worker."""

    name: str

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    @abstractmethod
    async def setup(self) -> None:
        """Create the library's tables in this (empty) database."""

    @abstractmethod
    async def pusher(self) -> Any:
        """An async context manager whose value has `push(t0)`, `push_many(n)` (the public
        bulk API) and `push_many_store(n)` (the storage layer's own, where it differs)."""

    @abstractmethod
    async def drain(self, count: int, go: Command) -> None:
        """Worker process: wait for `go`, then run `count` queued jobs and return once
        their outcomes are stored."""

    @abstractmethod
    async def serve(self, go: Command, stop: Command) -> None:
        """Worker process: after `go`, run jobs as they come until `stop`."""


async def _wait_then(command: Command, action: Callable[[], Any]) -> None:
    await command()
    result = action()
    if asyncio.iscoroutine(result):
        await result


# ---- asyncz_queue ------------------------------------------------------------------------


class AsynczQueue(System):
    """asyncz_queue: `AsyncIOScheduler` with a `PostgresStore`; worker role `worker`."""

    name = "asyncz_queue"

    def _scheduler(self, role: str) -> Any:
        from asyncz_queue import AsyncIOScheduler
        from asyncz_queue.stores.postgres import PostgresStore

        return AsyncIOScheduler(stores={"default": PostgresStore(self.dsn)}, role=role)

    async def setup(self) -> None:
        await self._scheduler("scheduler").migrate()

    async def pusher(self) -> Any:
        return _AsynczPusher(self._scheduler("scheduler"))

    async def drain(self, count: int, go: Command) -> None:
        finished = _arm(count)
        await go()
        async with self._scheduler("worker") as scheduler:
            await finished.wait()
            await scheduler.shutdown(wait=True)  # writes the last outcomes

    async def serve(self, go: Command, stop: Command) -> None:
        await go()
        async with self._scheduler("worker"):
            await stop()


class _AsynczPusher:
    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    async def __aenter__(self) -> _AsynczPusher:
        await self.scheduler.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.scheduler.shutdown()

    async def push(self, t0: float | None = None) -> None:
        await self.scheduler.push(noop, t0)

    async def push_many(self, count: int) -> None:
        from asyncz_queue import Job

        await self.scheduler.push_many([Job.from_func(noop) for _ in range(count)])

    async def push_many_store(self, count: int) -> None:
        """The store's own bulk insert, without the scheduler's per-job events."""
        from asyncz_queue import Job

        await self.scheduler.store("default").add_jobs([Job.from_func(noop) for _ in range(count)])


# ---- pgqueuer ----------------------------------------------------------------------------


class PgQueuer(System):
    """PgQueuer on psycopg (asyncpg is not installed here), `batch_size` per dequeue."""

    name = "pgqueuer"

    def __init__(self, dsn: str, batch_size: int = 10) -> None:
        super().__init__(dsn)
        self.batch_size = batch_size
        if batch_size != 10:
            self.name = f"pgqueuer (batch {batch_size})"

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)

    async def setup(self) -> None:
        from pgqueuer import Queries

        async with await self._connect() as conn:
            await Queries.from_psycopg_connection(conn).install()

    async def pusher(self) -> Any:
        return _PgQueuerPusher(self)

    def _app(self, conn: psycopg.AsyncConnection[Any]) -> Any:
        from pgqueuer import PgQueuer as App

        app = App.from_psycopg_connection(conn)

        @app.entrypoint("noop")
        async def run(job: Any) -> None:
            await noop(float(job.payload) if job.payload else None)

        return app

    async def drain(self, count: int, go: Command) -> None:
        from pgqueuer.domain.types import QueueExecutionMode

        await go()
        async with await self._connect() as conn:
            await self._app(conn).run(batch_size=self.batch_size, mode=QueueExecutionMode.drain)

    async def serve(self, go: Command, stop: Command) -> None:
        await go()
        async with await self._connect() as conn:
            app = self._app(conn)
            stopper = asyncio.create_task(_wait_then(stop, app.shutdown.set))
            await app.run(batch_size=self.batch_size)
            await stopper


class _PgQueuerPusher:
    def __init__(self, system: PgQueuer) -> None:
        self.system = system

    async def __aenter__(self) -> _PgQueuerPusher:
        from pgqueuer import Queries

        self.conn = await self.system._connect()
        self.queries = Queries.from_psycopg_connection(self.conn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def push(self, t0: float | None = None) -> None:
        await self.queries.enqueue("noop", None if t0 is None else repr(t0).encode())

    async def push_many(self, count: int) -> None:
        await self.queries.enqueue(["noop"] * count, [None] * count, [0] * count)

    push_many_store = push_many


# ---- procrastinate -----------------------------------------------------------------------


class Procrastinate(System):
    """Procrastinate with its psycopg connector; `concurrency` jobs at a time."""

    name = "procrastinate"

    def __init__(self, dsn: str, concurrency: int = 10) -> None:
        super().__init__(dsn)
        self.concurrency = concurrency

    def _app(self) -> Any:
        import procrastinate

        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=self.dsn))
        app.task(name="noop")(noop)
        return app

    async def setup(self) -> None:
        app = self._app()
        async with app.open_async():
            await app.schema_manager.apply_schema_async()

    async def pusher(self) -> Any:
        return _ProcrastinatePusher(self._app())

    async def drain(self, count: int, go: Command) -> None:
        app = self._app()
        await go()
        async with app.open_async():
            await app.run_worker_async(
                concurrency=self.concurrency, wait=False, install_signal_handlers=False
            )

    async def serve(self, go: Command, stop: Command) -> None:
        app = self._app()
        await go()
        async with app.open_async():
            worker = asyncio.create_task(
                app.run_worker_async(concurrency=self.concurrency, install_signal_handlers=False)
            )
            await stop()
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


class _ProcrastinatePusher:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.task = app.tasks["noop"]

    async def __aenter__(self) -> _ProcrastinatePusher:
        await self.app.open_async()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.app.close_async()

    async def push(self, t0: float | None = None) -> None:
        await self.task.defer_async(t0=t0)

    async def push_many(self, count: int) -> None:
        await self.task.batch_defer_async(*({} for _ in range(count)))

    push_many_store = push_many


SYSTEMS: dict[str, Callable[[str], System]] = {
    "asyncz_queue": AsynczQueue,
    "pgqueuer": PgQueuer,
    "pgqueuer-batch100": lambda dsn: PgQueuer(dsn, batch_size=100),
    "procrastinate": Procrastinate,
}
