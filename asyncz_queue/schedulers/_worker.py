"""The work loop: acquire due jobs, hand them to executors, record their outcomes."""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from asyncz_queue._waiting import Wakeup
from asyncz_queue.events import constants
from asyncz_queue.exceptions import (
    JobCancelledError,
    JobInterruptedError,
    MaximumInstancesError,
    SerializationError,
)
from asyncz_queue.jobs import FINISHED_STATES, Job, JobError, JobState, utcnow

if TYPE_CHECKING:
    from asyncz_queue.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger("asyncz_queue.worker")

_COMPLETION_CODES = {
    JobState.SUCCEEDED: constants.JOB_SUCCEEDED,
    JobState.FAILED: constants.JOB_FAILED,
    JobState.RETRYING: constants.JOB_RETRYING,
    JobState.CANCELLED: constants.JOB_CANCELLED,
    JobState.SKIPPED: constants.TASK_MAX_INSTANCES,
}
_OUTCOME_CODES = functools.reduce(operator.or_, _COMPLETION_CODES.values())
_SCALARS = frozenset({type(None), bool, int, float, str})
#: Seconds after which one claim of jobs is logged as slow (a store that struggles shows up
#: in the log before it shows up as jobs starting late).
SLOW_CLAIM = 1.0
#: How many finished jobs past the retention one store call deletes (housekeeping calls it
#: again until fewer are left).
PRUNE_BATCH = 1000
#: How many of the jobs handed over last a worker remembers (see `Worker.take`). A store
#: delivers one again only while it still waits unconfirmed, which lasts until the next
#: flush: a few milliseconds, and far fewer hand-overs than this.
HANDED_MEMORY = 4096
_CANCELLED = JobCancelledError.__qualname__
_INTERRUPTED = JobInterruptedError.__qualname__


class Worker:
    """Runs the jobs of the stores on this process's executors (role `worker`)."""

    def __init__(self, scheduler: AsyncIOScheduler) -> None:
        self.scheduler = scheduler
        self.wakeup = Wakeup()
        self._flush_needed = asyncio.Event()
        self._outcomes: dict[str, list[Job]] = defaultdict(list)
        self._origin: dict[str, str] = {}  # job id -> store name, while it runs here
        # Ids of jobs handed over (see `take`) whose start the store has not heard of yet.
        self._unconfirmed: dict[str, list[str]] = defaultdict(list)
        # The last HANDED_MEMORY jobs handed over, oldest first: one that a store delivers
        # again (a hand-over it may have lost) after it ran here is not run twice.
        self._handed: dict[str, None] = {}
        self._flushing = False

    # ---- acquiring -----------------------------------------------------------------

    def _limits(self) -> dict[str, int]:
        return {
            name: free
            for name, executor in self.scheduler.executors.items()
            if (free := executor.free_slots) > 0
        }

    async def run(self) -> None:
        """Acquire and start jobs until cancelled; sleep while there is nothing to do."""
        await self.scheduler.run_loop("work", self.step, self.wakeup)

    async def step(self) -> float | None:
        """One round: start what is due; seconds until something may be due (None: unknown)."""
        if not self.scheduler.dispatching:
            return None
        return await self._acquire_round()

    async def _acquire_round(self) -> float | None:
        """Start what is due; return seconds until something may be due (None: unknown)."""
        scheduler = self.scheduler
        limits = self._limits()
        if not limits:
            return None
        now = utcnow()
        started = False
        for store_name, store in scheduler.stores.items():
            began = time.monotonic()
            acquired = await store.acquire_jobs(
                scheduler.identity, limits, now, scheduler.lease_seconds
            )
            took = time.monotonic() - began
            if took > SLOW_CLAIM:
                logger.warning(
                    "claiming jobs from store %r took %.2f s (%d started, %d skipped)",
                    store_name, took, len(acquired.jobs), len(acquired.skipped),
                )  # fmt: skip
            # Whether anyone hears of these jobs, asked once per batch, not once per job.
            if acquired.skipped:
                announce = scheduler.wants(constants.TASK_MAX_INSTANCES, store_name)
                for job in acquired.skipped:
                    self._report(store_name, job, announce)
            announce = scheduler.wants(constants.JOB_STARTED, store_name)
            for job in acquired.jobs:
                self._start(store_name, job, now, announce)
                limits[job.executor] -= 1
                started = True
            if any(limit <= 0 for limit in limits.values()):
                return 0.0  # filled a batch: there may be more waiting
            limits = {alias: limit for alias, limit in limits.items() if limit > 0}
        if started:
            # Let the jobs just started take their first step before this loop spends
            # time on the next query (a store's round trip begins with CPU work).
            await asyncio.sleep(0)
        next_times = [
            when
            for store in scheduler.stores.values()
            if (when := await store.get_next_job_time(list(limits))) is not None
        ]
        if not next_times:
            return None
        return max((min(next_times) - utcnow()).total_seconds(), 0.0)

    def take(self, store_name: str, job: Job) -> None:
        """Start `job`, which the store `store_name` handed over to this worker (pending, as
        pushed), as if it had claimed it; give it back, to wait for a claim, when it cannot
        start here now (paused, stopping, no free slot)."""
        scheduler = self.scheduler
        if job.id in self._handed or job.id in self._origin:
            return  # heard twice
        self._handed[job.id] = None
        if len(self._handed) > HANDED_MEMORY:
            del self._handed[next(iter(self._handed))]
        executor = scheduler.executors.get(job.executor)
        now = utcnow()
        # Heard late (this process was stopped or stalled): with less than half its lease
        # left, the store may have rescued the job, and another worker may run it already.
        late = job.lease_until is not None and (
            (job.lease_until - now).total_seconds() < scheduler.lease_seconds / 2
        )
        if late or not scheduler.dispatching or executor is None or executor.free_slots <= 0:
            self._origin[job.id] = store_name
            self._record(job.id, job)
            return
        lease_until = now + timedelta(seconds=scheduler.lease_seconds)
        claimed = job.claimed(scheduler.identity, now, lease_until)
        self._start(store_name, claimed, now, scheduler.wants(constants.JOB_STARTED, store_name))
        # After the start: the job takes its first step before the confirmation's query.
        self._unconfirmed[store_name].append(job.id)
        self._flush_needed.set()

    def _start(self, store_name: str, job: Job, now: datetime, announce: bool) -> None:
        """Hand `job` to its executor; with `announce`, emit `JOB_STARTED`."""
        executor = self.scheduler.executors[job.executor]
        self._origin[job.id] = store_name
        try:
            executor.submit(job, self._on_done)
        except MaximumInstancesError as exc:
            skipped = job.evolve(
                state=JobState.SKIPPED,
                completed_at=now,
                error_type="MaximumInstancesError",
                error=str(exc),
            )
            self._record(job.id, skipped)
            return
        if announce:
            self.scheduler.emit_job(constants.JOB_STARTED, job, store_name)

    # ---- outcomes ------------------------------------------------------------------

    def _on_done(self, job: Job, result: Any, error: JobError | None) -> None:
        """Executor callback: turn an attempt's outcome into the job's next state."""
        now = utcnow()
        job_id = job.id
        if error is None:
            store = self.scheduler.stores[self._origin[job_id]]
            try:
                if type(result) not in _SCALARS:  # every serializer gives these back as is
                    # As the store will give it back (JSON: tuples become lists), so that a
                    # `Reference` here sees what one in another process reads.
                    what = f"the result of type {type(result).__qualname__}"
                    result = store.serializer.stored(result, what)
            except SerializationError as exc:
                error = JobError.from_exception(exc)
            else:
                self._record(job_id, job.after_success(result, now))
                return
        if error.type_name.endswith(_CANCELLED):
            after = job.evolve(
                state=JobState.CANCELLED,
                completed_at=now,
                lease_until=None,
                error_type=error.type_name,
                error=error.message,
            )
        elif error.type_name.endswith(_INTERRUPTED):
            # Back to waiting, its attempt not counted: a shutdown is not the job's failure
            # (the stores' fences take this one attempt behind the stored count).
            after = job.evolve(
                state=JobState.PENDING,
                attempts=job.attempts - 1,
                worker_id=None,
                lease_until=None,
                scheduled_at=now,
            )
        else:
            after = job.after_failure(error, now)
        self._record(job_id, after)

    def _record(self, job_id: str, after: Job) -> None:
        self._outcomes[self._origin.pop(job_id)].append(after)
        self._flush_needed.set()
        self.wakeup.set()  # a slot is free again

    async def flush_loop(self) -> None:
        """Write outcomes in batches as they arrive; retry with backoff while the store fails."""
        backoff = 0.1
        while True:
            await self._flush_needed.wait()
            try:
                await self.flush()
                backoff = 0.1
            except Exception:
                logger.exception("could not record job outcomes; retrying in %.1f s", backoff)
                self._flush_needed.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def flush(self) -> None:
        """Write every outcome recorded so far (one store call per store), then report it.

        A batch whose write fails or is cancelled stays queued for the next flush.
        """
        self._flush_needed.clear()
        await self._confirm()
        while self._outcomes:
            store_name, jobs = self._outcomes.popitem()
            store = self.scheduler.stores[store_name]
            try:
                try:
                    written = await store.complete_jobs(self.scheduler.identity, jobs)
                except SerializationError:
                    written = []
                    while jobs:  # one by one: only the outcome the store refuses fails
                        written += await self._complete_alone(store, jobs[0])
                        del jobs[0]
            except BaseException:
                self._outcomes[store_name] = jobs + self._outcomes.get(store_name, [])
                raise
            if len(written) != len(jobs):
                lost = {job.id for job in jobs} - {job.id for job in written}
                logger.warning(
                    "lost the lease of %d job(s) before completing them: %s",
                    len(lost),
                    ", ".join(sorted(lost)),
                )
            announce = self.scheduler.wants(_OUTCOME_CODES, store_name)
            for job in written:
                self._report(store_name, job, announce)

    async def _complete_alone(self, store: Any, job: Job) -> list[Job]:
        """Write one outcome; one the store cannot keep (`SerializationError`) is written as
        the attempt's failure instead, so that it neither blocks the other outcomes nor
        leaves its job running. An outcome refused even so is dropped with an error: the
        job's lease runs out and the store rescues it."""
        identity = self.scheduler.identity
        try:
            return await store.complete_jobs(identity, [job])
        except SerializationError as exc:
            refused = JobError.from_exception(
                SerializationError(f"the outcome of the attempt could not be stored: {exc}")
            )
            # `job` as it ran (its result and error dropped), failing this attempt.
            ran = job.evolve(state=JobState.RUNNING, result=None, error_type=None, error=None)
            failed = ran.after_failure(refused, utcnow())
        try:
            return await store.complete_jobs(identity, [failed])
        except SerializationError:
            logger.exception(
                "could not record any outcome of job %s; its lease will run out", job.id
            )
            return []

    async def _confirm(self) -> None:
        """Tell the stores that the jobs they handed over started (renewing their leases):
        each then counts the attempt. One that ended meanwhile is confirmed by its outcome."""
        scheduler = self.scheduler
        while self._unconfirmed:
            store_name, job_ids = self._unconfirmed.popitem()
            running = [job_id for job_id in job_ids if self._origin.get(job_id) == store_name]
            if not running:
                continue
            lease_until = utcnow() + timedelta(seconds=scheduler.lease_seconds)
            try:
                await scheduler.stores[store_name].extend_leases(
                    scheduler.identity, running, lease_until
                )
            except BaseException:
                self._unconfirmed[store_name] += running
                raise

    def _report(self, store_name: str, job: Job, announce: bool = True) -> None:
        """Emit the event of `job`'s new state (only with `announce`: someone may hear it)
        and, once it finished, resolve whoever waits for it."""
        scheduler = self.scheduler
        if announce:
            code = _COMPLETION_CODES.get(job.state)
            if code is not None:
                scheduler.emit_job(code, job, store_name)
        if job.state in FINISHED_STATES:
            scheduler.job_finished(job)

    # ---- housekeeping --------------------------------------------------------------

    def runs(self, job_id: str) -> bool:
        """Whether `job_id` runs here now."""
        return job_id in self._origin

    def running_job_ids(self) -> dict[str, list[str]]:
        """Ids of the jobs whose lease this worker holds, by store name: those running here
        and those whose outcome waits to be written (while the store is away, say)."""
        by_store: dict[str, list[str]] = defaultdict(list)
        for job_id, store_name in self._origin.items():
            by_store[store_name].append(job_id)
        for store_name, jobs in self._outcomes.items():
            by_store[store_name].extend(job.id for job in jobs)
        return by_store

    async def housekeeping_loop(self) -> None:
        """Renew leases of running jobs, rescue lost ones, prune old finished jobs."""

        async def step() -> float:
            await self.housekeeping(utcnow())
            return self.scheduler.lease_seconds / 3

        await self.scheduler.run_loop("housekeeping", step)

    async def housekeeping(self, now: datetime) -> None:
        """One round of lease renewal, rescue and pruning at `now`."""
        scheduler = self.scheduler
        lease_until = now + timedelta(seconds=scheduler.lease_seconds)
        running = self.running_job_ids()
        for store_name, store in scheduler.stores.items():
            if running.get(store_name):
                await store.extend_leases(scheduler.identity, running[store_name], lease_until)
            for job in await store.rescue_jobs(now):
                self._report(store_name, job)
            if scheduler.job_retention is not None:
                cutoff = now - timedelta(seconds=scheduler.job_retention)
                # Batch after batch until caught up: one a round would fall behind a queue
                # that finishes more jobs than a batch between two rounds.
                while await store.prune_jobs(cutoff, PRUNE_BATCH) >= PRUNE_BATCH:
                    await asyncio.sleep(0)  # the other loops run between batches

    def stop_job(self, job_id: str) -> bool:
        """Ask the executor running `job_id` here to stop it."""
        return any(executor.stop_job(job_id) for executor in self.scheduler.executors.values())

    async def wait_idle(self, executors: Iterable[Any]) -> None:
        """Wait for the executors' running jobs, then write their outcomes."""
        for executor in executors:
            await executor.join()
        await self.flush()
