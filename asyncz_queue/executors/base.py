"""`BaseExecutor`: the contract every executor implements, and what they all share.

A subclass implements one method, `run_job(job)`, returning the result or raising. The base
class starts each job as an asyncio task, counts instances per task, enforces the job's
timeout (unless the subclass does it itself), turns cancellation into a recorded outcome and
reports every outcome through the callback the scheduler passed to `submit()`.

Executors that run functions on threads (`asyncio` for plain functions, `threadpool`) start
those jobs with `start_on_thread()` instead: no asyncio task, the same bookkeeping.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from asyncz_queue._options import check_seconds
from asyncz_queue._waiting import wait_event
from asyncz_queue.exceptions import (
    JobCancelledError,
    JobInterruptedError,
    MaximumInstancesError,
)
from asyncz_queue.executors._threads import StopFlag, ThreadCall, ThreadRunner, run_job_here
from asyncz_queue.jobs import Job, JobError, set_current_job
from asyncz_queue.serializers import ref_to_callable

logger = logging.getLogger("asyncz_queue.executors")

#: Seconds between looks at a thread job whose timeout passed while it still waited for a
#: thread (its time counts from when one takes it).
QUEUED_RECHECK = 0.05

#: Called once per submitted job: `(job, result, None)` or `(job, None, error)`.
OnDone = Callable[[Job, Any, "JobError | None"], None]

_callables: dict[str, tuple[Callable[..., Any], bool]] = {}


def resolve_callable(ref: str) -> tuple[Callable[..., Any], bool]:
    """The callable named by `ref` and whether it is a coroutine function (cached)."""
    try:
        return _callables[ref]
    except KeyError:
        func = ref_to_callable(ref)
        entry = (func, inspect.iscoroutinefunction(func))
        _callables[ref] = entry
        return entry


async def call_job(job: Job, func: Callable[..., Any], is_coroutine: bool) -> Any:
    """Call `func` for `job` on this thread, awaiting the result when it is awaitable."""
    result = func(*job.args, **job.kwargs)
    if is_coroutine or (result is not None and inspect.isawaitable(result)):
        result = await result
    return result


class RemoteJobError(Exception):
    """Raised by `run_job` for an error already described elsewhere (in a child process).

    The base class records `error` as it is — the remote type name, message, traceback and
    `retry_on` names — instead of describing this exception.
    """

    def __init__(self, error: JobError) -> None:
        super().__init__(f"{error.type_name}: {error.message}")
        self.error = error


class BaseExecutor(ABC):
    """Runs jobs; subclasses implement `run_job`.

    Options (keyword arguments): `max_workers` — how many jobs run at once (the scheduler
    never hands over more); `timeout` — default seconds per attempt (`Job.timeout` wins).
    Invalid values raise `ValueError` naming the option.
    """

    #: Default for `max_workers` when not given.
    default_max_workers: ClassVar[int] = 10
    #: True when `run_job` enforces `job.timeout` itself (otherwise the base class does).
    enforces_timeout: ClassVar[bool] = False

    def __init__(self, *, max_workers: int | None = None, timeout: float | None = None) -> None:
        if max_workers is None:
            max_workers = self.default_max_workers
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"option 'max_workers' must be an integer >= 1, got {max_workers!r}")
        check_seconds("timeout", timeout, allow_none=True)
        self.max_workers = max_workers
        self.timeout = timeout
        #: The alias the scheduler registered this executor under.
        self.name = "default"
        # What runs each job: its asyncio task, or its thread call (`start_on_thread`).
        self._running: dict[str, asyncio.Task[None] | _ThreadJob] = {}
        self._instances: dict[str, int] = {}
        self._stopping: dict[str, type[Exception]] = {}
        self._emptied = asyncio.Event()
        self._abandoned = 0
        self._threads: ThreadRunner | None = None  # made by `threads()`
        #: Called (no arguments) when slots free up other than by a reported outcome, such as
        #: a thread abandoned after a timeout finally returning; the scheduler sets it to wake
        #: its work loop, which otherwise waits for the next outcome.
        self.on_capacity: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} max_workers={self.max_workers}>"

    # ---- to implement ------------------------------------------------------------------

    @abstractmethod
    async def run_job(self, job: Job) -> Any:
        """Run one attempt of `job` and return its result (or raise its error)."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Acquire resources (threads, processes) before the first job."""

    async def shutdown(self, wait: bool = True) -> None:
        """Stop: with `wait`, let running jobs finish; without, interrupt them.

        Interrupted jobs are reported with `JobInterruptedError` (the scheduler puts them
        back to run again). A thread still running an abandoned job is not waited for (nor
        does the interpreter wait for it at exit). Subclasses that override this call
        `super().shutdown(wait)`.
        """
        if not wait:
            for job_id in list(self._running):
                self.stop_job(job_id, JobInterruptedError)
        await self.join()
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.close()

    async def join(self) -> None:
        """Wait until every job of this executor has reported its outcome."""
        while self._running:
            self._emptied.clear()
            await wait_event(self._emptied, 1.0)
            self._sweep()

    def _sweep(self) -> None:
        """Forget jobs whose asyncio task ended without running them (cancelled from outside
        before its first step, as when the event loop shuts down): nothing will report them."""
        for job_id, running in list(self._running.items()):
            if isinstance(running, asyncio.Task) and running.done():
                del self._running[job_id]
                self._stopping.pop(job_id, None)
        if not self._running:
            self._emptied.set()

    # ---- provided ----------------------------------------------------------------------

    def capacity_freed(self) -> None:
        """Tell the scheduler (through `on_capacity`) that `free_slots` grew on its own."""
        if self.on_capacity is not None:
            try:
                self.on_capacity()
            except Exception:
                logger.exception("the on_capacity callback of executor %r failed", self.name)

    @property
    def free_slots(self) -> int:
        """How many more jobs may start now (a thread still running an abandoned job is busy:
        see `abandoned_threads`)."""
        return max(0, self.max_workers - len(self._running) - self._abandoned)

    @property
    def abandoned_threads(self) -> int:
        """Threads still running a job whose attempt already ended (timed out or stopped)."""
        return self._abandoned

    @property
    def running_jobs(self) -> list[str]:
        """Ids of the jobs running now."""
        return list(self._running)

    def instances(self, task_id: str) -> int:
        """How many jobs of `task_id` run on this executor now."""
        return self._instances.get(task_id, 0)

    def submit(self, job: Job, on_done: OnDone) -> None:
        """Start `job` in the background; `on_done` receives its outcome.

        Raises `MaximumInstancesError` when the job's task already runs `max_instances`
        jobs here.
        """
        fields = job.__dict__  # faster than three attribute reads (see `jobs.PENDING_JOB`)
        task_id, limit = fields["task_id"], fields["max_instances"]
        if task_id is not None and limit is not None:
            count = self._instances.get(task_id, 0)
            if count >= limit:
                raise MaximumInstancesError(task_id, limit)
            self._instances[task_id] = count + 1
        self.begin(job, on_done)

    def begin(self, job: Job, on_done: OnDone) -> None:
        """Start `job` (its instance is counted already): by default as an asyncio task
        awaiting `run_job`. Thread executors override it to call `start_on_thread`."""
        task = asyncio.get_running_loop().create_task(
            self._attempt(job, on_done), name=f"asyncz_queue job {job.id}"
        )
        self._running[job.id] = task

    def stop_job(self, job_id: str, reason: type[Exception] = JobCancelledError) -> bool:
        """Ask a running job to stop; returns False when it does not run here.

        The default implementation cancels the job's asyncio task; an executor whose jobs run
        elsewhere (processes) overrides `interrupt()` to reach them. A job on a thread ends
        its attempt at once: its stop flag is raised (see `stop_requested()`) and whatever
        the function returns later is discarded.
        """
        running = self._running.get(job_id)
        if running is None:
            return False
        if isinstance(running, _ThreadJob):
            self._end_thread_job(running, self._stop_error(reason))
            return True
        self._stopping[job_id] = reason
        if inspect.getcoroutinestate(running.get_coro()) != inspect.CORO_CREATED:
            self.interrupt(job_id, running)
        # else: `_attempt` has not begun; it reports the stop instead of running the job.
        return True

    def _stop_error(self, reason: type[Exception]) -> JobError:
        return JobError.from_exception(reason(_stop_message(reason, self.name)))

    def interrupt(self, job_id: str, task: asyncio.Task[None]) -> None:
        """Stop the attempt of `job_id` (default: cancel its asyncio task)."""
        task.cancel()

    async def _attempt(self, job: Job, on_done: OnDone) -> None:
        if self._stopping and job.id in self._stopping:  # stopped before it began
            reason = self._stopping[job.id]
            self._forget(job)
            self._report(job, on_done, None, self._stop_error(reason))
            return
        set_current_job(job)  # only this asyncio task's context sees it
        result: Any = None
        error: JobError | None = None
        timeout = job.timeout if job.timeout is not None else self.timeout
        deadline: asyncio.Timeout | None = None
        try:
            if timeout is None or self.enforces_timeout:
                result = await self.run_job(job)
            else:
                async with asyncio.timeout(timeout) as deadline:
                    result = await self.run_job(job)
        except asyncio.CancelledError as exc:
            reason = self._stopping.get(job.id)
            if reason is not None:
                error = self._stop_error(reason)
            elif _cancelled_from_outside():  # the loop is closing, say: let the task end
                raise
            else:  # the job's own (a task it awaited was cancelled): its failure
                error = JobError.from_exception(exc)
        except TimeoutError as timed_out:
            if deadline is not None and deadline.expired():  # ours, not one the job raised
                message = f"the job did not finish within its timeout of {timeout} s"
                error = JobError.from_exception(TimeoutError(message))
            else:
                error = JobError.from_exception(timed_out)
        except RemoteJobError as exc:
            error = exc.error
        except BaseException as exc:  # SystemExit, KeyboardInterrupt: record, keep serving
            error = JobError.from_exception(exc)
        finally:
            self._forget(job)
        self._report(job, on_done, result, error)

    # ---- jobs on threads --------------------------------------------------------------

    def threads(self, size: int) -> ThreadRunner:
        """This executor's threads for `start_on_thread` (up to `size`, started as needed;
        let go at shutdown)."""
        if self._threads is None:
            self._threads = ThreadRunner(size, f"asyncz_queue-{self.name}")
        return self._threads

    def start_on_thread(
        self,
        job: Job,
        on_done: OnDone,
        threads: ThreadRunner,
        func: Callable[..., Any],
        is_coroutine: bool,
    ) -> None:
        """Run `job`'s function `func` on one of `threads`, without an asyncio task.

        Its timeout ends the attempt with `TimeoutError` and a cancel or an interrupt ends it
        with their errors; either way the job's stop flag is raised, and the thread, which
        cannot be stopped, counts as busy (`abandoned_threads`) until the function returns.
        """
        running = _ThreadJob(self, job, on_done, threads, func, is_coroutine)
        threads.put(running)
        timeout = job.timeout if job.timeout is not None else self.timeout
        if timeout is not None:
            running.timer = asyncio.get_running_loop().call_later(
                timeout, self._time_out, running, timeout
            )
        self._running[job.id] = running

    def _thread_returned(self, running: _ThreadJob, result: Any, exc: BaseException | None) -> None:
        if running.timer is not None:
            running.timer.cancel()
        job = running.job
        self._forget(job)
        error = None if exc is None else JobError.from_exception(exc)
        self._report(job, running.on_done, None if exc is not None else result, error)

    def _time_out(self, running: _ThreadJob, timeout: float) -> None:
        # The attempt's time counts from when a thread took it, not while it waited for one.
        loop = asyncio.get_running_loop()
        started = running.started
        left = QUEUED_RECHECK if started is None else started + timeout - time.monotonic()
        if left > 0 and self._running.get(running.job.id) is running:
            running.timer = loop.call_later(left, self._time_out, running, timeout)
            return
        message = (
            f"the job did not finish within its timeout of {timeout} s; a thread cannot be "
            "stopped, so it keeps running until the function returns (its stop flag is set "
            "and its result will be discarded)"
        )
        self._end_thread_job(running, JobError.from_exception(TimeoutError(message)))

    def _end_thread_job(self, running: _ThreadJob, error: JobError) -> None:
        """End the attempt of a thread job now with `error`; its thread runs on."""
        if self._running.get(running.job.id) is not running:
            return  # it reported already
        if running.timer is not None:
            running.timer.cancel()
        running.flag.set()
        job = running.job
        # A thread still running the function keeps its slot and its task's instance (with
        # max_instances=1, no second one may start beside it) until the function returns.
        still_running = running.threads.abandon(running, lambda: self._thread_released(job))
        if still_running:
            self._abandoned += 1
        self._forget(job, instance=not still_running)
        self._report(job, running.on_done, None, error)

    def _thread_released(self, job: Job) -> None:
        self._abandoned -= 1
        self._release_instance(job)
        self.capacity_freed()

    def _forget(self, job: Job, instance: bool = True) -> None:
        """Forget the running `job`; with `instance`, also its instance of its task."""
        job_id = job.__dict__["id"]
        self._running.pop(job_id, None)
        if not self._running:
            self._emptied.set()
        self._stopping.pop(job_id, None)
        if instance:
            self._release_instance(job)

    def _release_instance(self, job: Job) -> None:
        fields = job.__dict__
        task_id = fields["task_id"]
        if task_id is not None and fields["max_instances"] is not None:
            count = self._instances.get(task_id, 1) - 1
            if count:
                self._instances[task_id] = count
            else:
                self._instances.pop(task_id, None)

    @staticmethod
    def _report(job: Job, on_done: OnDone, result: Any, error: JobError | None) -> None:
        try:
            on_done(job, result, error)
        except Exception:  # the scheduler's bookkeeping must never kill the executor
            logger.exception("recording the outcome of job %s failed", job.id)


class _ThreadJob(ThreadCall):
    """A job running through `start_on_thread`: its call, and what it needs to report or
    end early."""

    __slots__ = (
        "context",
        "executor",
        "flag",
        "func",
        "is_coroutine",
        "job",
        "on_done",
        "threads",
        "timer",
    )

    def __init__(
        self,
        executor: BaseExecutor,
        job: Job,
        on_done: OnDone,
        threads: ThreadRunner,
        func: Callable[..., Any],
        is_coroutine: bool,
    ) -> None:
        super().__init__()
        self.executor = executor
        self.job = job
        self.on_done = on_done
        self.threads = threads
        self.func = func
        self.is_coroutine = is_coroutine
        self.flag = StopFlag()
        self.timer: asyncio.TimerHandle | None = None
        # Carries the submitter's context variables into the thread.
        self.context = contextvars.copy_context()

    def run(self) -> Any:
        return self.context.run(run_job_here, self.func, self.is_coroutine, self.job, self.flag)

    def outcome(self, result: Any, error: BaseException | None) -> None:
        self.executor._thread_returned(self, result, error)


def _cancelled_from_outside() -> bool:
    """Whether the running asyncio task was asked to stop (`Task.cancel()`), rather than a
    `CancelledError` rising from inside what it awaited."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _stop_message(reason: type[Exception], executor: str) -> str:
    if reason is JobInterruptedError:
        return f"executor {executor!r} shut down without waiting; the job will run again"
    return "the job was cancelled while it ran"
