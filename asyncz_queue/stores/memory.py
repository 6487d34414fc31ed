"""`MemoryStore`: the embedded default — heaps for what is due, dicts for lookups."""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from asyncz_queue.exceptions import ConflictIdError, JobLookupError, TaskLookupError
from asyncz_queue.jobs import (
    FINISHED_STATES,
    PENDING,
    RUNNING,
    WAITING_STATES,
    Job,
    JobError,
    JobState,
)
from asyncz_queue.serializers import Serializer
from asyncz_queue.stores.base import Acquired, BaseStore, FireResult, Notification
from asyncz_queue.tasks import Task

_TASKS_CHANGED = Notification("tasks")
_JOBS_CHANGED = Notification("jobs")


class MemoryStore(BaseStore):
    """Keeps everything in this process; gone when the process ends.

    Arguments go through the serializer (JSON by default) as PostgreSQL's do, and are kept
    as it gives them back (tuples inside become lists, dict keys strings), so code that
    works here works, and sees the same values, on PostgreSQL.
    """

    def __init__(self, serializer: str | Serializer = "json") -> None:
        super().__init__(serializer)
        self._tasks: dict[str, Task] = {}
        # (next_run_time, seq, task_id) of every task not leased; entries go stale when a
        # task changes and are skipped on pop when they no longer match the stored task.
        self._due: list[tuple[datetime, int, str]] = []
        # task id -> (scheduler id, lease_until); a leased task is out of `_due` until it is
        # released, or its lease runs out (then `_readmit` puts it back).
        self._task_leases: dict[str, tuple[str, datetime]] = {}
        self._jobs: dict[str, Job] = {}
        self._seq = itertools.count()
        self._job_seq: dict[str, int] = {}
        # Waiting jobs not due when stored: (scheduled_at, seq, job_id).
        self._delayed: list[tuple[datetime, int, str]] = []
        # Waiting jobs that are due, per executor: (priority, scheduled_at, seq, job_id); a
        # job goes here from `_delayed` once due, or at once when it was due when made.
        self._ready: dict[str, list[tuple[int, datetime, int, str]]] = defaultdict(list)
        self._running: dict[str, int] = defaultdict(int)
        self._unique: dict[str, str] = {}
        self._fires: dict[tuple[str, datetime], str] = {}
        self._running_ids: set[str] = set()
        # Finished jobs by completion time (a heap), for pruning without a scan: outcomes
        # are recorded in batches and by several workers, not in the order of their times.
        self._finished: list[tuple[datetime, str]] = []

    # ---- tasks -----------------------------------------------------------------------

    def _index_task(self, task: Task) -> None:
        self._tasks[task.id] = task
        if task.next_run_time is not None:
            heapq.heappush(self._due, (task.next_run_time, next(self._seq), task.id))

    async def add_task(self, task: Task, replace_existing: bool = False) -> None:
        if task.id in self._tasks and not replace_existing:
            raise ConflictIdError(task.id)
        self._store_task(task)

    async def update_task(self, task: Task) -> None:
        if task.id not in self._tasks:
            raise TaskLookupError(task.id)
        self._store_task(task)

    def _store_task(self, task: Task) -> None:
        stored = self.stored_arguments(task.args, task.kwargs, f"task {task.id!r}")
        if stored is not None:  # kept as a database gives it back (see MemoryStore)
            task = task.model_copy(update={"args": stored[0], "kwargs": stored[1]})
        # A scheduler firing the task now loses its lease, so its release is fenced off
        # and cannot overwrite this task (a pause, another trigger) with an old run time.
        self._task_leases.pop(task.id, None)
        self._index_task(task)
        self.notify(_TASKS_CHANGED)

    async def get_task(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise TaskLookupError(task_id) from None

    async def get_tasks(self) -> list[Task]:
        return sorted(
            self._tasks.values(),
            key=lambda t: (t.next_run_time is None, t.next_run_time or datetime.min, t.id),
        )

    async def delete_task(self, task_id: str) -> None:
        if self._tasks.pop(task_id, None) is None:
            raise TaskLookupError(task_id)
        self._task_leases.pop(task_id, None)

    async def remove_all_tasks(self) -> None:
        self._tasks.clear()
        self._due.clear()
        self._task_leases.clear()

    def _current_due_entry(self, entry: tuple[datetime, int, str]) -> Task | None:
        task = self._tasks.get(entry[2])
        if task is None or task.next_run_time != entry[0]:
            return None
        return task

    async def get_next_run_time(self) -> datetime | None:
        due = self._due
        while due and self._current_due_entry(due[0]) is None:
            heapq.heappop(due)
        # A leased task is due again when its lease runs out without a release.
        times = [until for _, until in self._task_leases.values()]
        if due:
            times.append(due[0][0])
        return min(times, default=None)

    def _readmit(self, now: datetime, scheduler_id: str) -> None:
        """Put tasks whose lease ran out without a release back among the due ones, and
        those of `scheduler_id`'s own lease: it takes back a fire it never released (cut
        off by a shutdown, say) at once."""
        for task_id, (owner, until) in list(self._task_leases.items()):
            if until <= now or owner == scheduler_id:
                del self._task_leases[task_id]
                task = self._tasks.get(task_id)
                if task is not None and task.next_run_time is not None:
                    self._index_task(task)

    async def acquire_tasks(
        self, scheduler_id: str, now: datetime, limit: int, lease_seconds: float
    ) -> list[Task]:
        if self._task_leases:
            self._readmit(now, scheduler_id)
        acquired: list[Task] = []
        due = self._due
        leases = self._task_leases
        lease_until = now + timedelta(seconds=lease_seconds)
        while due and len(acquired) < limit and due[0][0] <= now:
            entry = heapq.heappop(due)
            task = self._current_due_entry(entry)
            # A task indexed twice at one run time has a second entry: leased already.
            if task is None or entry[2] in leases:
                continue
            leases[entry[2]] = (scheduler_id, lease_until)
            acquired.append(task)
        return acquired

    async def release_tasks(self, scheduler_id: str, results: Sequence[FireResult]) -> list[Job]:
        inserted: list[Job] = []
        for result in results:
            task_id = result.task.id
            held = self._task_leases.get(task_id)
            if held is None or held[0] != scheduler_id:
                continue  # fenced: the lease ran out and another scheduler took the task
            del self._task_leases[task_id]
            for job in result.jobs:
                if (task_id, job.scheduled_at) in self._fires:
                    continue
                self._insert_job(job)
                inserted.append(job)
            task = self._tasks.get(task_id)
            if task is None:
                continue
            if result.next_run_time is None:
                del self._tasks[task_id]
            else:
                self._index_task(task.model_copy(update={"next_run_time": result.next_run_time}))
        if inserted:
            self.notify(_JOBS_CHANGED)
        return inserted

    # ---- jobs ------------------------------------------------------------------------

    # The hot paths read a job's fields from its `__dict__` (why: above `PENDING_JOB`).

    def _insert_job(self, job: Job) -> None:
        seq = next(self._seq)
        fields = job.__dict__
        job_id = fields["id"]
        self._jobs[job_id] = job
        self._job_seq[job_id] = seq
        if fields["unique_key"] is not None:
            self._unique[fields["unique_key"]] = job_id
        scheduled_at = fields["scheduled_at"]
        if fields["task_id"] is not None:  # one job per fire of a task
            self._fires[(fields["task_id"], scheduled_at)] = job_id
        if scheduled_at <= fields["created_at"]:  # due when made (most are): ready at once
            entry = (fields["priority"], scheduled_at, seq, job_id)
            heapq.heappush(self._ready[fields["executor"]], entry)
        else:
            heapq.heappush(self._delayed, (scheduled_at, seq, job_id))

    async def add_jobs(
        self,
        jobs: Sequence[Job],
        connection: Any = None,
        announce: bool = False,
    ) -> list[Job]:
        if connection is not None:
            raise ValueError("the memory store has no transactions: push without connection=")
        kept = [self._as_stored(job) for job in jobs]  # refuses before storing any
        stored: list[Job] = []
        for job, kept_job in zip(jobs, kept, strict=True):
            if job.id in self._jobs:
                holder_id: str | None = job.id  # the id is taken: keep the stored job
            elif job.unique_key is not None:
                holder_id = self._unique.get(job.unique_key)
            elif job.task_id is not None:  # a job of this task's fire at that time exists
                holder_id = self._fires.get((job.task_id, job.scheduled_at))
            else:
                holder_id = None
            holder = self._jobs.get(holder_id) if holder_id is not None else None
            if holder is not None:
                stored.append(holder)
                continue
            self._insert_job(kept_job)
            stored.append(job)  # the caller's job, as PostgreSQL returns it
        self.notify(_JOBS_CHANGED)
        return stored

    def _as_stored(self, job: Job) -> Job:
        """`job` with its arguments as a database gives them back (see `MemoryStore`)."""
        stored = self.stored_arguments(job.args, job.kwargs, f"job {job.id} ({job.fn})")
        return job if stored is None else job.evolve(args=stored[0], kwargs=stored[1])

    async def get_job(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobLookupError(job_id) from None

    async def get_jobs(
        self, state: JobState | None = None, task_id: str | None = None, limit: int = 100
    ) -> list[Job]:
        found: list[Job] = []
        if limit <= 0:
            return found
        for job in reversed(self._jobs.values()):
            if (state is None or job.state == state) and (
                task_id is None or job.task_id == task_id
            ):
                found.append(job)
                if len(found) >= limit:
                    break
        return found

    async def get_next_job_time(self, executors: Sequence[str]) -> datetime | None:
        jobs = self._jobs
        for alias in executors:
            heap = self._ready.get(alias)
            while heap:
                job = jobs.get(heap[0][3])
                if job is not None and job.state in WAITING_STATES:
                    return heap[0][1]
                heapq.heappop(heap)
        delayed = self._delayed
        wanted = set(executors)
        stale: list[tuple[datetime, int, str]] = []
        found: datetime | None = None
        while delayed:
            entry = delayed[0]
            job = jobs.get(entry[2])
            if job is None or job.state not in WAITING_STATES or job.scheduled_at != entry[0]:
                heapq.heappop(delayed)
                continue
            if job.executor in wanted:
                found = entry[0]
                break
            stale.append(heapq.heappop(delayed))
        for entry in stale:
            heapq.heappush(delayed, entry)
        return found

    def _promote_due(self, now: datetime) -> None:
        delayed = self._delayed
        ready = self._ready
        jobs = self._jobs
        while delayed and delayed[0][0] <= now:
            scheduled_at, seq, job_id = heapq.heappop(delayed)
            job = jobs.get(job_id)
            if job is None or job.state not in WAITING_STATES or job.scheduled_at != scheduled_at:
                continue
            heapq.heappush(ready[job.executor], (job.priority, scheduled_at, seq, job_id))

    async def acquire_jobs(
        self, worker_id: str, limits: dict[str, int], now: datetime, lease_seconds: float
    ) -> Acquired:
        self._promote_due(now)
        acquired = Acquired()
        lease_until = now + timedelta(seconds=lease_seconds)
        jobs = self._jobs
        running = self._running
        for alias, limit in limits.items():
            heap = self._ready.get(alias)
            taken = 0
            while heap and taken < limit:
                entry = heapq.heappop(heap)
                job_id = entry[3]
                job = jobs.get(job_id)
                if job is None:
                    continue
                fields = job.__dict__
                if fields["state"] not in WAITING_STATES:
                    continue
                if entry[1] > now:  # stored ready at a `now` later than this one
                    heapq.heappush(self._delayed, (entry[1], entry[2], job_id))
                    continue
                task_id = fields["task_id"]
                if task_id is not None and fields["max_instances"] is not None:
                    if running[task_id] >= fields["max_instances"]:
                        skipped = job.evolve(state=JobState.SKIPPED, completed_at=now)
                        self._finish(skipped)
                        acquired.skipped.append(skipped)
                        continue
                    running[task_id] += 1
                job = job.claimed(worker_id, now, lease_until)
                jobs[job_id] = job
                self._running_ids.add(job_id)
                acquired.jobs.append(job)
                taken += 1
        return acquired

    def _finish(self, job: Job) -> None:
        fields = job.__dict__
        job_id, unique_key = fields["id"], fields["unique_key"]
        self._jobs[job_id] = job
        heapq.heappush(self._finished, (fields["completed_at"] or _EPOCH, job_id))
        if unique_key is not None and self._unique.get(unique_key) == job_id:
            del self._unique[unique_key]

    def _leave_running(self, job: Job) -> None:
        fields = job.__dict__
        self._running_ids.discard(fields["id"])
        task_id = fields["task_id"]
        if task_id is not None and fields["max_instances"] is not None:
            count = self._running[task_id] - 1
            if count > 0:
                self._running[task_id] = count
            else:
                del self._running[task_id]

    async def complete_jobs(self, worker_id: str, jobs: Sequence[Job]) -> list[Job]:
        written: list[Job] = []
        requeued = False
        for job in jobs:
            fields = job.__dict__
            job_id = fields["id"]
            stored = self._jobs.get(job_id)
            if stored is None:
                continue
            held = stored.__dict__
            # An outcome back to pending (an interrupted attempt) is one attempt behind.
            attempt = fields["attempts"] + (fields["state"] is PENDING)
            if (
                held["state"] is not RUNNING
                or held["worker_id"] != worker_id
                or held["attempts"] != attempt
            ):
                continue
            self._leave_running(stored)
            if fields["state"] in FINISHED_STATES:
                self._finish(job)
            else:
                self._jobs[job_id] = job
                entry = (fields["scheduled_at"], self._job_seq[job_id], job_id)
                heapq.heappush(self._delayed, entry)
                requeued = True
            written.append(job)
        if requeued:
            self.notify(_JOBS_CHANGED)
        return written

    async def extend_leases(
        self, worker_id: str, job_ids: Sequence[str], lease_until: datetime
    ) -> list[str]:
        held: list[str] = []
        for job_id in job_ids:
            job = self._jobs.get(job_id)
            if job is not None and job.state is JobState.RUNNING and job.worker_id == worker_id:
                self._jobs[job_id] = job.evolve(lease_until=lease_until)
                held.append(job_id)
        return held

    async def rescue_jobs(self, now: datetime) -> list[Job]:
        rescued: list[Job] = []
        for job_id in list(self._running_ids):
            job = self._jobs[job_id]
            if job.lease_until is None or job.lease_until >= now:
                continue
            error = JobError.lost(f"the lease of worker {job.worker_id} ran out")
            after = job.after_failure(error, now)
            self._leave_running(job)
            if after.state is JobState.FAILED:
                self._finish(after)
            else:
                after = after.evolve(scheduled_at=now)
                self._jobs[job.id] = after
                heapq.heappush(self._delayed, (now, self._job_seq[job.id], job.id))
            rescued.append(after)
        if rescued:
            self.notify(_JOBS_CHANGED)
        return rescued

    async def cancel_job(self, job_id: str, now: datetime) -> Job:
        job = await self.get_job(job_id)
        if job.state not in WAITING_STATES:
            return job
        cancelled = job.evolve(state=JobState.CANCELLED, completed_at=now)
        self._finish(cancelled)
        return cancelled

    async def prune_jobs(self, finished_before: datetime, limit: int = 1000) -> int:
        finished = self._finished
        pruned = 0
        while finished and pruned < limit and finished[0][0] < finished_before:
            _, job_id = heapq.heappop(finished)
            job = self._jobs.get(job_id)
            if job is None or job.state not in FINISHED_STATES:
                continue
            del self._jobs[job_id]
            self._job_seq.pop(job_id, None)
            if job.task_id is not None:
                self._fires.pop((job.task_id, job.scheduled_at), None)
            pruned += 1
        return pruned


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
