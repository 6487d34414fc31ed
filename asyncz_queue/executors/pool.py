"""`ThreadPoolExecutor` (aliases `threadpool`, `pool`): each job on a thread of a pool.

A Python thread cannot be killed. When a thread job times out, is cancelled or is interrupted
by `shutdown(wait=False)`, its attempt is recorded at once, but the thread keeps running until
the function returns: the executor raises the job's stop flag (`stop_requested()` turns True),
discards whatever the function returns later, and keeps counting the thread as busy in
`free_slots` so that no more jobs are started than there are threads to run them. A coroutine
function is run with its own event loop in the thread; a stop request cancels it for real.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from asyncz_queue.executors._threads import ThreadCall, ThreadRunner
from asyncz_queue.executors.base import BaseExecutor, resolve_callable
from asyncz_queue.jobs import Job


class StopFlag:
    """The stop request of one thread job; a coroutine job's loop task is cancelled with it."""

    __slots__ = ("_event", "_lock", "_loop", "_task")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def is_set(self) -> bool:
        """Whether the job was asked to stop."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block the job's thread until a stop is requested or `timeout` passes."""
        return self._event.wait(timeout)

    def set(self) -> None:
        """Ask the job to stop (and cancel its coroutine, if it runs one)."""
        with self._lock:
            self._event.set()
            loop, task = self._loop, self._task
        if loop is not None and task is not None:
            # RuntimeError: that loop has closed already, so the coroutine is done.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    def attach(self, task: asyncio.Task[Any]) -> None:
        """Let `set()` cancel `task` (the coroutine job running on this thread's loop)."""
        with self._lock:
            self._loop, self._task = task.get_loop(), task
            stopped = self._event.is_set()
        if stopped:
            task.cancel()


_stop_flag: contextvars.ContextVar[StopFlag | None] = contextvars.ContextVar(
    "asyncz_queue_stop_flag", default=None
)


def stop_requested() -> bool:
    """True when the thread job calling it was asked to stop (cancelled, timed out, shut down).

    A long-running function on the thread pool should check it between steps and return (or
    raise) when it turns True: the executor cannot stop the thread itself. Outside a thread
    job it is always False.
    """
    flag = _stop_flag.get()
    return flag is not None and flag.is_set()


def current_stop_flag() -> StopFlag | None:
    """The stop flag of the thread job calling it (to `wait()` on), or None elsewhere."""
    return _stop_flag.get()


async def _await(awaitable: Awaitable[Any], flag: StopFlag) -> Any:
    task = asyncio.current_task()
    if task is not None:
        flag.attach(task)
    return await awaitable


def _call_in_thread(func: Callable[..., Any], is_coroutine: bool, job: Job, flag: StopFlag) -> Any:
    # Runs on the pool thread, inside a copy of the submitting task's context (current_job).
    _stop_flag.set(flag)
    result = func(*job.args, **job.kwargs)
    if is_coroutine or inspect.isawaitable(result):
        result = asyncio.run(_await(result, flag))
    return result


class ThreadPoolExecutor(BaseExecutor):
    """Runs each job on a thread of a pool of `max_workers` threads (default 10).

    Options: `max_workers`; `timeout` — default seconds per attempt (`Job.timeout` wins).
    A timed-out attempt fails with `TimeoutError` whose message says the thread could not be
    stopped; cancellation only raises the job's stop flag (see `stop_requested()`). Until
    such an abandoned thread returns, it still counts against `free_slots`.
    """

    default_max_workers: ClassVar[int] = 10
    enforces_timeout: ClassVar[bool] = True

    def __init__(self, *, max_workers: int | None = None, timeout: float | None = None) -> None:
        super().__init__(max_workers=max_workers, timeout=timeout)
        self._threads: ThreadRunner | None = None
        self._abandoned = 0

    @property
    def free_slots(self) -> int:
        """How many more jobs may start now (threads still running abandoned jobs are busy)."""
        return max(0, self.max_workers - len(self._running) - self._abandoned)

    @property
    def abandoned_threads(self) -> int:
        """Threads still running a job whose attempt already ended (timed out or stopped)."""
        return self._abandoned

    async def start(self) -> None:
        """Prepare the threads (they start as jobs need them)."""
        self._ensure_threads()

    def _ensure_threads(self) -> ThreadRunner:
        if self._threads is None:
            self._threads = ThreadRunner(self.max_workers, f"asyncz_queue-{self.name}")
        return self._threads

    async def shutdown(self, wait: bool = True) -> None:
        """Stop: with `wait`, let running jobs finish; without, flag them and stop waiting.

        Threads running abandoned jobs are not joined (they cannot be stopped), and the
        interpreter does not wait for them when it exits.
        """
        await super().shutdown(wait)
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.close()

    async def run_job(self, job: Job) -> Any:
        func, is_coroutine = resolve_callable(job.fn)
        flag = StopFlag()
        threads = self._ensure_threads()
        # The copied context carries current_job() (set by the base class) into the thread.
        context = contextvars.copy_context()
        call = threads.submit(context.run, _call_in_thread, func, is_coroutine, job, flag)
        timeout = job.timeout if job.timeout is not None else self.timeout
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                return await call.future
        except TimeoutError:
            if not deadline.expired():
                raise  # the job's own TimeoutError
            self._abandon(threads, call, flag)
            raise TimeoutError(
                f"the job did not finish within its timeout of {timeout} s; a thread cannot be "
                "stopped, so it keeps running until the function returns (its stop flag is "
                "set and its result will be discarded)"
            ) from None
        except asyncio.CancelledError:
            self._abandon(threads, call, flag)
            raise

    def _abandon(self, threads: ThreadRunner, call: ThreadCall, flag: StopFlag) -> None:
        """Give up on a thread job: raise its flag and count its thread busy until it ends."""
        flag.set()
        if threads.abandon(call, self._release):
            self._abandoned += 1

    def _release(self) -> None:
        self._abandoned -= 1
        self.capacity_freed()
