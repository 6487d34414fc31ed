"""`AsyncIOScheduler`: composes stores, executors, events and the two loops."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import tzinfo
from typing import Any

from asyncz_queue._options import check_seconds
from asyncz_queue._waiting import Wakeup
from asyncz_queue.events import EventBroker, JobEvent, SchedulerEvent, constants
from asyncz_queue.events.broker import check_mask
from asyncz_queue.events.models import event_from_dict, job_event
from asyncz_queue.exceptions import (
    ConfigurationError,
    SchedulerAlreadyRunningError,
    SchedulerNotRunningError,
    UnknownAliasError,
)
from asyncz_queue.executors import BaseExecutor
from asyncz_queue.jobs import Job, current_job, utcnow
from asyncz_queue.schedulers import _config
from asyncz_queue.schedulers._firer import Firer
from asyncz_queue.schedulers._jobs import JobAPI
from asyncz_queue.schedulers._tasks import TaskAPI
from asyncz_queue.schedulers._worker import Worker
from asyncz_queue.stores import BaseStore, Notification

logger = logging.getLogger("asyncz_queue.scheduler")

_BACKOFF_START = 0.1
_BACKOFF_MAX = 5.0
#: The events that tell a `Reference` waiting in this process that its job ended.
_JOB_ENDS = (
    constants.JOB_SUCCEEDED
    | constants.JOB_FAILED
    | constants.JOB_CANCELLED
    | constants.TASK_MAX_INSTANCES
)


class AsyncIOScheduler(TaskAPI, JobAPI):
    """An asyncio scheduler: tasks fire into jobs, jobs run on executors, events report it.

    Args:
        stores: store name -> instance or `{"type": alias, **options}` /
            `{"class": "pkg.mod:Class", **options}`; default one memory store `"default"`.
        executors: executor name -> instance or config dict; default one `asyncio` executor
            `"default"`.
        task_defaults: defaults for `add_task` (`max_instances`, `coalesce`,
            `mistrigger_grace_time`, `max_attempts`, `retry_backoff`, `retry_backoff_max`,
            `timeout`).
        timezone: IANA name or tzinfo; the default of every trigger built without one.
        identity: this process's name in the cluster (default: host, pid and a random tag).
        role: `"scheduler"` fires triggers, `"worker"` runs jobs, `"both"` does both.
        lease_seconds: how long acquired work stays leased without renewal.
        job_retention: seconds finished jobs are kept (None: forever).

    An unknown store or executor alias raises `UnknownAliasError`; an invalid option
    raises `ConfigurationError` naming it.
    """

    def __init__(
        self,
        stores: dict[str, Any] | None = None,
        executors: dict[str, Any] | None = None,
        task_defaults: dict[str, Any] | None = None,
        timezone: str | tzinfo | None = "UTC",
        identity: str | None = None,
        role: _config.Role = "both",
        lease_seconds: float = 30.0,
        job_retention: float | None = 86_400.0,
    ) -> None:
        self.stores: dict[str, BaseStore] = _config.build_stores(stores)
        self.executors: dict[str, BaseExecutor] = _config.build_executors(executors)
        self.task_defaults = _config.build_task_defaults(task_defaults)
        self.timezone: tzinfo = _config.resolve_timezone(timezone)
        self.identity = identity or _config.default_identity()
        self.role = _config.check_role(role)
        self.lease_seconds = check_seconds("lease_seconds", lease_seconds)
        self.job_retention = check_seconds(
            "job_retention", job_retention, allow_none=True, allow_zero=True
        )
        self.broker = EventBroker()
        self.broker.on_mask_change = self._listeners_changed
        self.paused = False
        self._running = False
        self._stopping = False
        self._stopped: asyncio.Event | None = None
        self._stack: AsyncExitStack | None = None
        self._firer: Firer | None = None
        self._worker: Worker | None = None
        self._shutdown_wait = True
        JobAPI.__init__(self)
        self._open_stores: set[str] = set()
        TaskAPI.__init__(self)

    # ---- lifecycle -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True between `start()` and `shutdown()` (also while paused)."""
        return self._running

    @property
    def dispatching(self) -> bool:
        """Whether the loops fire tasks and start jobs now: not paused, and `shutdown()` has
        not begun (from then on only running jobs finish)."""
        return not self.paused and not self._stopping

    @property
    def fires(self) -> bool:
        """Whether this process fires triggers (role `scheduler` or `both`)."""
        return self.role in ("scheduler", "both")

    @property
    def works(self) -> bool:
        """Whether this process runs jobs (role `worker` or `both`)."""
        return self.role in ("worker", "both")

    async def start(self, paused: bool = False) -> None:
        """Start stores, executors and loops; add the tasks added before `start()`.

        Raises `SchedulerAlreadyRunningError` when already running.
        """
        if self._running:
            raise SchedulerAlreadyRunningError
        self.paused = paused
        self._stopping = False
        self._stopped = asyncio.Event()
        async with AsyncExitStack() as stack:
            for name, store in self.stores.items():
                await store.start(self.identity)
                stack.push_async_callback(store.shutdown)
                handler = functools.partial(self._on_notification, name)
                store.set_notification_handler(handler, self._wants_remote)
                self._open_stores.add(name)
                stack.callback(self._open_stores.discard, name)
            stack.callback(self.broker.close)
            # The exit stack unwinds in reverse: `running` turns False only once the jobs
            # have finished, and lease renewal (housekeeping) goes on while a shutdown waits
            # for them; the other loops stop first.
            self._running = True
            stack.callback(setattr, self, "_running", False)
            if self.works:
                for executor in self.executors.values():
                    await executor.start()
                self._worker = Worker(self)
                for executor in self.executors.values():
                    executor.on_capacity = self._worker.wakeup.set
                housekeeping = asyncio.create_task(self._worker.housekeeping_loop())
                stack.push_async_callback(_cancel, housekeeping)
                stack.push_async_callback(self._stop_worker)
            await self._add_pending_tasks()
            await self._heartbeat()
            tasks = [self.run_loop("heartbeat", self._heartbeat)]
            if self.fires:
                self._firer = Firer(self)
                tasks.append(self._firer.run())
            if self._worker is not None:
                tasks += [self._worker.run(), self._worker.flush_loop()]
            for coro in tasks:
                stack.push_async_callback(_cancel, asyncio.create_task(coro))
            self._stack = stack.pop_all()
        self.emit(SchedulerEvent(code=constants.SCHEDULER_START, scheduler_identity=self.identity))
        if paused:
            self.emit(
                SchedulerEvent(code=constants.SCHEDULER_PAUSED, scheduler_identity=self.identity)
            )

    async def _heartbeat(self) -> float:
        """Tell every store this process is alive, with its role and executor load; returns
        the seconds until the next heartbeat (a third of a lease)."""
        executors = {
            name: {"running": len(executor.running_jobs), "max_workers": executor.max_workers}
            for name, executor in self.executors.items()
        }
        every = self.lease_seconds / 3
        info = {
            "role": self.role,
            "paused": self.paused,
            "executors": executors if self.works else {},
            # What this process's listeners want, and how often it beats: other processes
            # announce a bulk push job by job only while a live process listens for it.
            "listens": self.broker.mask,
            "every": every,
        }
        now = utcnow()
        for store in self.stores.values():
            await store.heartbeat(self.identity, info, now)
        return every

    def _listeners_changed(self) -> None:
        """Tell the stores at once what this process listens for now (see `_heartbeat`)."""
        if self._running and not self._stopping:
            self._in_background(self._beat_now())

    async def _beat_now(self) -> None:
        try:
            await self._heartbeat()
        except Exception as exc:  # the heartbeat loop tries again soon
            if not self._stopping:
                logger.warning("could not record this process's listeners: %s", exc)

    async def shutdown(self, wait: bool = True) -> None:
        """Stop the loops and executors; with `wait`, running jobs finish first.

        Without `wait`, running jobs are interrupted and put back to run again.
        Raises `SchedulerNotRunningError` when not running, and `RuntimeError` when called
        from inside a job this scheduler runs (schedule the shutdown in a task instead).
        """
        if not self._running or self._stack is None:
            raise SchedulerNotRunningError
        job = current_job()
        if job is not None and self._worker is not None and self._worker.runs(job.id):
            # Its own executor would wait for it (or cancel it mid-shutdown without `wait`).
            raise RuntimeError(
                f"job {job.id} cannot shut down the scheduler it runs on from inside itself; "
                "schedule it instead: asyncio.get_running_loop().create_task(scheduler.shutdown())"
            )
        self._shutdown_wait = wait
        self._stopping = True  # nothing new fires or starts while the loops are stopped
        self.emit(
            SchedulerEvent(code=constants.SCHEDULER_SHUTDOWN, scheduler_identity=self.identity)
        )
        stack, self._stack = self._stack, None
        await stack.aclose()
        await self.broker.drain()
        for job_id, futures in self._waiters.items():
            for future in futures:
                if not future.done():
                    future.set_exception(
                        SchedulerNotRunningError(
                            f"the scheduler shut down before job {job_id} finished"
                        )
                    )
        if self._stopped is not None:
            self._stopped.set()

    async def _stop_worker(self) -> None:
        worker = self._worker
        assert worker is not None
        for executor in self.executors.values():
            await executor.shutdown(wait=self._shutdown_wait)
        await worker.flush()
        self._worker = None

    async def __aenter__(self) -> AsyncIOScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._running:
            await self.shutdown()

    async def pause(self) -> None:
        """Stop firing tasks and starting jobs; running jobs go on."""
        self.paused = True
        self.emit(SchedulerEvent(code=constants.SCHEDULER_PAUSED, scheduler_identity=self.identity))

    async def resume(self) -> None:
        """Fire tasks and start jobs again after `pause()`."""
        self.paused = False
        self._wake(tasks=True, jobs=True)
        self.emit(
            SchedulerEvent(code=constants.SCHEDULER_RESUMED, scheduler_identity=self.identity)
        )

    async def run_until_stopped(self) -> None:
        """Run (starting if needed) until `shutdown()` or SIGINT/SIGTERM, then shut down."""
        if not self._running:
            await self.start()
        assert self._stopped is not None
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._on_signal)
                installed.append(signum)
        try:
            await self._stopped.wait()
        finally:
            for signum in installed:
                loop.remove_signal_handler(signum)

    def _on_signal(self) -> None:
        if self._running and self._stack is not None:
            asyncio.get_running_loop().create_task(self.shutdown())

    async def migrate(self) -> None:
        """Create or upgrade every store's schema (idempotent)."""
        for store in self.stores.values():
            await store.migrate()

    # ---- plugins ---------------------------------------------------------------------

    def store(self, name: str) -> BaseStore:
        """The store called `name`; `UnknownAliasError` lists the configured ones."""
        try:
            return self.stores[name]
        except KeyError:
            raise UnknownAliasError("store", name, self.stores) from None

    def check_executor(self, name: str) -> None:
        """Raise `UnknownAliasError` unless an executor called `name` is configured."""
        if name not in self.executors:
            raise UnknownAliasError("executor", name, self.executors)

    async def add_executor(self, name: str, executor: BaseExecutor | dict[str, Any]) -> None:
        """Add (and, when running as a worker, start) an executor under `name`.

        Raises `ConfigurationError` when `name` is taken: the executor there may be running
        jobs, and only `remove_executor` waits for them and lets its resources go.
        """
        if name in self.executors:
            raise ConfigurationError(
                f"an executor called {name!r} exists already; remove_executor({name!r}) first"
            )
        instance = _config.build_executor(name, executor)
        if self._running and self.works:
            await instance.start()
        if self._worker is not None:
            instance.on_capacity = self._worker.wakeup.set
        self.executors[name] = instance
        self.emit(
            SchedulerEvent(
                code=constants.EXECUTOR_ADDED, scheduler_identity=self.identity, alias=name
            )
        )
        self._wake(jobs=True)

    async def remove_executor(self, name: str, wait: bool = True) -> None:
        """Shut down and remove the executor called `name`."""
        self.check_executor(name)
        executor = self.executors.pop(name)
        if self._running and self.works:
            await executor.shutdown(wait=wait)
            if self._worker is not None:
                await self._worker.flush()
        self.emit(
            SchedulerEvent(
                code=constants.EXECUTOR_REMOVED, scheduler_identity=self.identity, alias=name
            )
        )

    # ---- events ----------------------------------------------------------------------

    def add_listener(
        self, callback: Callable[[SchedulerEvent], Any], mask: int = constants.ALL_EVENTS
    ) -> None:
        """Call `callback(event)` (plain or async) for each event whose code is in `mask`.

        Raises `TypeError` for a callback that is not callable or a mask that is not an int,
        and `ValueError` for a mask that selects no event or holds bits of none.
        """
        self.broker.add_listener(callback, mask)

    def remove_listener(self, callback: Callable[[SchedulerEvent], Any]) -> None:
        """Stop calling `callback`."""
        self.broker.remove_listener(callback)

    def subscribe(self, mask: int = constants.ALL_EVENTS) -> AsyncIterator[SchedulerEvent]:
        """Iterate over events whose code is in `mask` until the scheduler shuts down.

        A mask that selects no known event raises at once (see `add_listener`)."""
        return self.broker.subscribe(check_mask(mask))

    def wants(self, code: int, store_name: str | None = None) -> bool:
        """Whether an event `code` about `store_name` goes anywhere: to a listener here, or
        to other processes through that store (lets callers skip building the event)."""
        return self.broker.wants(code) or self._broadcaster(store_name) is not None

    def emit_job(self, code: int, job: Job, store_name: str) -> None:
        """`emit` the event `code` about `job` as it is now, built only for where it goes:
        a `JobEvent` for the listeners here, a short row for other processes (see
        `BaseStore.publish_job`)."""
        if self.broker.wants(code):
            self.broker.publish(job_event(code, job, self.identity))
        store = self._broadcaster(store_name)
        if store is not None:
            store.publish_job(code, job, self.identity)

    def emit(self, event: SchedulerEvent, store_name: str | None = None) -> None:
        """Deliver `event` here, and to other processes through its store if it can."""
        self.broker.publish(event)
        store = self._broadcaster(store_name)
        if store is not None:
            store.publish(event)

    def _broadcaster(self, store_name: str | None) -> BaseStore | None:
        """The store through which events about `store_name` reach other processes: an
        open one that broadcasts, else None."""
        if store_name not in self._open_stores:
            return None
        store = self.stores[store_name]  # type: ignore[index]
        return store if store.broadcasts else None

    def _wants_remote(self, codes: int) -> bool:
        """Whether events with any of `codes` from other processes matter here: to a
        listener, or to a `Reference` waiting here for its job to end."""
        return self.broker.wants(codes) or bool(self._waiters and codes & _JOB_ENDS)

    def _on_notification(self, store_name: str, notification: Notification) -> None:
        kind = notification.kind
        if kind == "jobs":
            self._wake(jobs=True)
        elif kind == "tasks":
            self._wake(tasks=True)
        elif kind == "event" and notification.payload is not None:
            event = event_from_dict(notification.payload)
            self.broker.publish(event)
            if isinstance(event, JobEvent) and event.job_id in self._waiters:
                asyncio.get_running_loop().create_task(self._refresh_waiters(event.job_id))
        elif kind == "cancel" and notification.payload and self._worker is not None:
            self._worker.stop_job(notification.payload["job_id"])
        elif kind == "handoff" and notification.payload:
            job = notification.payload["job"]
            if self._worker is not None:
                self._worker.take(store_name, job)
            else:  # the worker stopped (a shutdown): give it back at once, to run elsewhere
                self._in_background(self._give_back(store_name, job))

    async def _give_back(self, store_name: str, job: Job) -> None:
        """Return a job handed over to this process unstarted (as pushed); one not given
        back waits out its lease and is then claimed as if never handed over."""
        try:
            await self.stores[store_name].complete_jobs(self.identity, [job])
        except Exception as exc:
            logger.warning("could not give back job %s handed over at shutdown: %s", job.id, exc)

    def _wake(self, tasks: bool = False, jobs: bool = False) -> None:
        if tasks and self._firer is not None:
            self._firer.wakeup.set()
        if jobs and self._worker is not None:
            self._worker.wakeup.set()

    async def sleep(self, wakeup: Wakeup | None, delay: float | None) -> None:
        """Wait for `wakeup`, at most `delay` seconds (and at most the stores' poll interval,
        so a lost notification never strands work)."""
        if wakeup is not None:
            polls = [s.poll_interval for s in self.stores.values() if s.poll_interval is not None]
            if polls:
                delay = min(polls) if delay is None else min(delay, *polls)
        if delay is not None and delay <= 0:
            await asyncio.sleep(0)
            return
        if wakeup is None:
            await asyncio.sleep(delay if delay is not None else 3600)
            return
        await wakeup.wait(delay)

    async def run_loop(
        self,
        name: str,
        step: Callable[[], Awaitable[float | None]],
        wakeup: Wakeup | None = None,
    ) -> None:
        """Run `step()` forever, sleeping for the seconds it returns or until `wakeup`.

        A failing step (a store that cannot be reached) is logged and reported once per
        outage as a `STORE_ERROR` event, then retried with exponential backoff.
        """
        backoff = _BACKOFF_START
        failing = False
        while True:
            if wakeup is not None:
                wakeup.clear()
            try:
                delay = await step()
            except Exception as exc:
                if not failing:
                    logger.error("%s loop failed; retrying with backoff: %s", name, exc)
                    self.emit(
                        SchedulerEvent(
                            code=constants.STORE_ERROR,
                            scheduler_identity=self.identity,
                            alias=name,
                            exception=f"{type(exc).__name__}: {exc}",
                        )
                    )
                failing = True
                delay = backoff
                backoff = min(backoff * 2, _BACKOFF_MAX)
            else:
                if failing:
                    logger.warning("%s loop recovered", name)
                failing = False
                backoff = _BACKOFF_START
            await self.sleep(None if failing else wakeup, delay)

    # ---- ASGI ------------------------------------------------------------------------

    def asgi(self, app: Any = None, handle_lifespan: bool = False, wait: bool = True) -> Any:
        """Wrap an ASGI app so its lifespan starts and stops this scheduler (see contrib)."""
        from asyncz_queue.contrib.asgi import wrap_asgi  # the face is loaded on demand

        return wrap_asgi(self, app, handle_lifespan=handle_lifespan, wait=wait)


async def _cancel(task: asyncio.Task[Any]) -> None:
    # Cancel until it ends: library code below a loop may swallow one cancellation.
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
    if not task.cancelled() and task.exception() is not None:
        logger.error("a scheduler loop ended with an error", exc_info=task.exception())
