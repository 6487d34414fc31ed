"""`BaseStore`: the async contract every store implements (memory, PostgreSQL, yours).

A store keeps tasks and jobs and is the only place where their state changes. Several
schedulers may share one store (PostgreSQL), so every method that hands out work does it
under a lease, and every write that ends a job's attempt is fenced by that lease.

Time is always passed in (`now`), never read inside a store method, so the same calls can
be replayed in tests. All datetimes are timezone-aware.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from asyncz_queue.events import SchedulerEvent
from asyncz_queue.events.models import job_event
from asyncz_queue.jobs import Job, JobState
from asyncz_queue.serializers import Serializer, get_serializer
from asyncz_queue.tasks import Task

NotificationKind = Literal["tasks", "jobs", "event", "cancel", "handoff"]


@dataclass(slots=True, frozen=True)
class Notification:
    """A store's message to the schedulers using it.

    - `"tasks"`: tasks were added or changed; the fire loop should look again.
    - `"jobs"`: jobs became available; the work loop should look again.
    - `"event"`: an event from another process; `payload` is the event's dict form.
    - `"cancel"`: `payload["job_id"]` should be stopped wherever it is running.
    - `"handoff"`: `payload["job"]` was handed to this process's worker: it is stored
      running under the worker's lease, claimed for it, and should start now (or be given
      back: see `BaseStore.acquire_jobs`). The same job may come twice (a store delivers
      again what it may have lost), and runs once.
    """

    kind: NotificationKind
    payload: dict[str, Any] | None = None


NotificationHandler = Callable[[Notification], None]


@dataclass(slots=True)
class FireResult:
    """What the fire loop decided for one acquired task.

    `jobs` are inserted (a job whose `(task_id, scheduled_at)` already exists is ignored),
    then the task's `next_run_time` is set, or the task is deleted when it is None. It is in
    UTC, as a task's is (`plan_fire` gives it so): stores order run times by it.
    """

    task: Task
    jobs: list[Job]
    next_run_time: datetime | None


@dataclass(slots=True)
class Acquired:
    """Jobs handed to a worker (`jobs`, now `RUNNING` under its lease) and jobs recorded as
    `SKIPPED` because their task already ran `max_instances` jobs (`skipped`)."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)


class BaseStore(ABC):
    """The async store contract.

    Arguments and results are checked with `serializer` (JSON unless the store was created
    with `serializer="pickle"`): a value it cannot store raises `SerializationError` and
    nothing is written. Unknown ids raise `TaskLookupError` / `JobLookupError`.
    """

    #: True when events published here reach other processes (the scheduler then publishes
    #: every event, not only those a local listener wants).
    broadcasts: ClassVar[bool] = False
    #: Seconds between looks at the store even without a notification (None: notifications
    #: are reliable, as in a single process).
    poll_interval: float | None = None

    def __init__(self, serializer: str | Serializer = "json") -> None:
        self.serializer: Serializer = get_serializer(serializer)
        self._handler: NotificationHandler | None = None
        self._wants: Callable[[int], bool] | None = None
        self._heartbeats: dict[str, dict[str, Any]] = {}

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self, identity: str) -> None:  # noqa: B027 - optional hook
        """Open connections; `identity` names this process in the cluster."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook
        """Close connections. Leased work stays leased until its lease runs out."""

    async def migrate(self) -> None:  # noqa: B027 - optional hook
        """Create or upgrade the store's schema; idempotent. Nothing to do by default."""

    def set_notification_handler(
        self, handler: NotificationHandler | None, wants: Callable[[int], bool] | None = None
    ) -> None:
        """Call `handler` (a plain function, on the event loop) for every `Notification`.

        `wants(codes)`: whether events with any of these codes (a bitwise OR) matter to
        this process; a store may then skip reading the events of other processes that do
        not (see `wants_event`). None: every event matters.
        """
        self._handler = handler
        self._wants = wants

    def wants_event(self, codes: int) -> bool:
        """Whether an event from another process with any of `codes` should be delivered
        (for store implementations: read and deliver only those)."""
        return self._wants is None or self._wants(codes)

    def notify(self, notification: Notification) -> None:
        """Hand `notification` to the handler, if any (for store implementations)."""
        if self._handler is not None:
            self._handler(notification)

    def publish(self, event: SchedulerEvent) -> None:  # noqa: B027 - optional hook
        """Queue `event` for the other processes sharing this store, which receive it as
        `Notification("event", event.to_dict())`; returns at once (the store sends in the
        background and flushes the queue when it shuts down).

        Stores that only live in one process do nothing.
        """

    async def request_cancel(self, job_id: str) -> None:  # noqa: B027 - optional hook
        """Ask every process sharing this store to stop `job_id` if it runs there."""

    def publish_job(self, code: int, job: Job, identity: str) -> None:
        """`publish` the event `code` about `job` as it is now, from the scheduler
        `identity`. A store may send it in a form of its own (PostgreSQL: a short row);
        receivers get `job_event(code, job, identity)`'s dict. The default builds that
        event and publishes it."""
        self.publish(job_event(code, job, identity))

    async def heartbeat(self, identity: str, info: dict[str, Any], now: datetime) -> None:
        """Record that the scheduler `identity` is alive at `now`, with `info` (its role,
        executors, running jobs...). The default keeps it in this process."""
        self._heartbeats[identity] = {**info, "identity": identity, "last_seen": now}

    async def get_processes(self) -> list[dict[str, Any]]:
        """The last heartbeat of every scheduler using this store, newest first."""
        return sorted(self._heartbeats.values(), key=lambda entry: entry["last_seen"], reverse=True)

    # ---- tasks -----------------------------------------------------------------------

    @abstractmethod
    async def add_task(self, task: Task, replace_existing: bool = False) -> None:
        """Store a new task; `ConflictIdError` when the id exists and not `replace_existing`.

        A replaced task loses its lease, as with `update_task`."""

    @abstractmethod
    async def update_task(self, task: Task) -> None:
        """Replace the stored task with the same id; `TaskLookupError` if there is none.

        The task loses its lease: a scheduler firing it at that moment is fenced off at
        `release_tasks`, so the change (a pause, another trigger) is never overwritten by
        a run time computed from the old task."""

    @abstractmethod
    async def get_task(self, task_id: str) -> Task:
        """The task with this id; `TaskLookupError` if there is none."""

    @abstractmethod
    async def get_tasks(self) -> list[Task]:
        """Every task, by `next_run_time` (paused tasks last), then id."""

    @abstractmethod
    async def delete_task(self, task_id: str) -> None:
        """Delete the task (its jobs stay); `TaskLookupError` if there is none."""

    @abstractmethod
    async def remove_all_tasks(self) -> None:
        """Delete every task."""

    @abstractmethod
    async def get_next_run_time(self) -> datetime | None:
        """The earliest `next_run_time` of any unpaused task, or None."""

    @abstractmethod
    async def acquire_tasks(
        self, scheduler_id: str, now: datetime, limit: int, lease_seconds: float
    ) -> list[Task]:
        """Lease up to `limit` tasks due at `now` (`next_run_time <= now`) to `scheduler_id`.

        A task leased to another scheduler whose lease has not run out is never returned,
        so of several schedulers exactly one fires a given run time.
        """

    @abstractmethod
    async def release_tasks(self, scheduler_id: str, results: Sequence[FireResult]) -> list[Job]:
        """Record fires atomically: insert their jobs, advance or delete the tasks, drop the
        leases. Returns the jobs actually inserted (not the duplicates of a re-fire).

        Fenced: a result whose task `scheduler_id` no longer leases (the lease ran out, or
        the task was changed meanwhile) changes nothing."""

    # ---- jobs ------------------------------------------------------------------------

    @abstractmethod
    async def add_jobs(
        self, jobs: Sequence[Job], connection: Any = None, announce: bool = False
    ) -> list[Job]:
        """Store pending jobs; returns, in order, the stored job for each.

        A job whose id is taken, or whose `unique_key` is held by an unfinished job, is not
        stored: the stored job with that id, or holding the key, is returned in its place.
        All or nothing on `SerializationError`.
        `connection`: write inside the caller's own transaction (PostgreSQL: a psycopg
        `AsyncConnection`), so the jobs exist only if it commits; a store without
        transactions raises `ValueError` when given one.
        `announce`: tell the other processes sharing the store of each job stored, as the
        `JOB_PUSHED` event of this store's scheduler (the identity given to `start`), with
        the insert of that job, in its transaction. Stores that do not broadcast ignore it.
        """

    @abstractmethod
    async def get_job(self, job_id: str) -> Job:
        """The job with this id; `JobLookupError` if there is none."""

    @abstractmethod
    async def get_jobs(
        self, state: JobState | None = None, task_id: str | None = None, limit: int = 100
    ) -> list[Job]:
        """Jobs, newest first, optionally only in `state` and/or of `task_id`."""

    @abstractmethod
    async def get_next_job_time(self, executors: Sequence[str]) -> datetime | None:
        """The earliest `scheduled_at` of a waiting job for these executors, or None."""

    @abstractmethod
    async def acquire_jobs(
        self, worker_id: str, limits: dict[str, int], now: datetime, lease_seconds: float
    ) -> Acquired:
        """Lease waiting jobs due at `now` to `worker_id`: at most `limits[alias]` per executor.

        Lower `priority` first, then `scheduled_at`, then insertion order. Each acquired job
        is `RUNNING` with `attempts` increased, `started_at=now`, `worker_id` and
        `lease_until` set. A job of a task that already has `max_instances` running jobs
        (in any process) is recorded `SKIPPED` and returned in `skipped`; it never blocks the
        jobs behind it.

        A store may also offer the slots a claim leaves free to the jobs pushed next, and
        hand such a job straight to the worker (a `"handoff"` notification) instead of
        waiting for its claim. The worker starts it as if it had claimed it, and confirms
        with `extend_leases`; one it cannot run it gives back with `complete_jobs`, stored
        as it was pushed (pending, attempts as before).
        """

    @abstractmethod
    async def complete_jobs(self, worker_id: str, jobs: Sequence[Job]) -> list[Job]:
        """Write the outcome of attempts (each job as it should now be stored).

        Fenced: a job is written only while the stored one is `RUNNING` under `worker_id`
        with the same `attempts` (one more for a job back to `PENDING`: an attempt that a
        shutdown interrupted, which does not count); returns the jobs that were written.
        """

    @abstractmethod
    async def extend_leases(
        self, worker_id: str, job_ids: Sequence[str], lease_until: datetime
    ) -> list[str]:
        """Push the leases of running jobs forward; returns the ids this worker still holds."""

    @abstractmethod
    async def rescue_jobs(self, now: datetime) -> list[Job]:
        """Return jobs whose lease ran out (a lost worker) to waiting as a new attempt, or to
        `FAILED` when attempts are exhausted; returns the changed jobs."""

    @abstractmethod
    async def cancel_job(self, job_id: str, now: datetime) -> Job:
        """Cancel a waiting job (state `CANCELLED`); a running or finished job is returned
        unchanged (the scheduler stops a running one). `JobLookupError` if there is none."""

    @abstractmethod
    async def prune_jobs(self, finished_before: datetime, limit: int = 1000) -> int:
        """Delete up to `limit` finished jobs completed before `finished_before`; returns how
        many were deleted."""

    # ---- helpers for implementations ---------------------------------------------------

    def check_task(self, task: Task) -> None:
        """Raise `SerializationError` when the task's arguments cannot be stored."""
        self.serializer.check(task.args, f"the arguments of task {task.id!r}")
        self.serializer.check(task.kwargs, f"the keyword arguments of task {task.id!r}")

    def check_job(self, job: Job) -> None:
        """Raise `SerializationError` when the job's arguments cannot be stored."""
        self.serializer.check(job.args, f"the arguments of job {job.id} ({job.fn})")
        self.serializer.check(job.kwargs, f"the keyword arguments of job {job.id} ({job.fn})")

    def stored_arguments(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], what: str
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        """`args` and `kwargs` as the serializer gives them back (JSON turns tuples into
        lists, keys into strings and enums into their values), or None when there are none.
        For a store that keeps objects (the memory store): a job sees the arguments it would
        see after a database, and none the caller changes after the push (a list reused
        for the next job, say). `SerializationError` names `what` when they cannot be
        stored."""
        if not args and not kwargs:
            return None
        loaded_args = tuple(self.serializer.stored(args, f"the arguments of {what}"))
        loaded_kwargs = self.serializer.stored(kwargs, f"the keyword arguments of {what}")
        return loaded_args, loaded_kwargs
