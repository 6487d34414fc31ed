"""Jobs on threads: `ThreadRunner` hands calls to a few threads and their outcomes back to
the event loop in batches; `StopFlag` is how a thread job learns it should stop.

`asyncio.to_thread` costs one concurrent future, one loop future and one self-pipe wake-up of
the event loop per call, and the scheduler added an asyncio task per job on top: about 25 µs
a job on the loop's thread. Here threads take calls from one queue and put outcomes in one
outbox; only the outcome that finds the outbox empty wakes the loop, which then settles every
outcome waiting there at once, each through a plain callback. A busy loop is woken once per
batch instead of once per job.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import inspect
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from time import monotonic
from typing import Any

from asyncz_queue.jobs import Job, set_current_job

logger = logging.getLogger("asyncz_queue.executors")

#: Called on the loop with `(result, None)` or `(None, exception)` when a call returns.
OnOutcome = Callable[[Any, "BaseException | None"], None]


class ThreadCall:
    """One call handed to a `ThreadRunner`: `run()` on a thread, then `outcome()` on the loop.

    Subclasses carry what their call needs in their own slots (one object per call).
    """

    __slots__ = ("abandoned", "on_return", "returned", "started")

    def __init__(self) -> None:
        self.abandoned = False
        self.returned = False
        self.on_return: Callable[[], None] | None = None
        #: When a thread took the call (`time.monotonic()`); None while it waits for one.
        self.started: float | None = None

    def run(self) -> Any:
        """The call itself, on a runner thread."""
        raise NotImplementedError

    def outcome(self, result: Any, error: BaseException | None) -> None:
        """On the loop: `run()` returned `result` or raised `error` (not called once the
        call was abandoned)."""
        raise NotImplementedError


class FunctionCall(ThreadCall):
    """`fn(*args, **kwargs)`, its outcome passed to `on_outcome`."""

    __slots__ = ("args", "fn", "kwargs", "on_outcome")

    def __init__(
        self,
        on_outcome: OnOutcome,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        self.on_outcome = on_outcome
        self.fn = fn
        self.args = args
        self.kwargs = kwargs

    def run(self) -> Any:
        return self.fn(*self.args, **self.kwargs)

    def outcome(self, result: Any, error: BaseException | None) -> None:
        self.on_outcome(result, error)


class ThreadRunner:
    """Runs calls on up to `size` daemon threads, started as they are needed.

    No lock on the way in or out: the loop and the threads meet only in operations the GIL
    makes atomic (`SimpleQueue.put/get`, `dict.pop`, `deque.append/popleft`). A lock taken
    by both sides for every call made the loop's thread wait for a worker thread to get the
    GIL back just to release it. Every count that decides whether to start a thread is kept
    on the loop's thread alone.

    Daemon threads: a thread still running a function when the interpreter exits is not
    waited for (the scheduler's `shutdown(wait=True)` waits for every job before that).
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._calls: queue.SimpleQueue[ThreadCall | None] = queue.SimpleQueue()
        #: Calls no thread has taken yet. Whoever pops a call first owns it: a thread runs
        #: it, `abandon()` withdraws it.
        self._queued: dict[ThreadCall, bool] = {}
        self._outbox: collections.deque[tuple[ThreadCall, Any, BaseException | None]] = (
            collections.deque()
        )
        self._signalled = False  # a `_deliver` is on its way to the loop
        self._threads = 0
        self._unfinished = 0  # calls put and neither delivered nor withdrawn (loop only)
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(
        self, on_outcome: OnOutcome, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> ThreadCall:
        """Queue `fn(*args, **kwargs)`; `on_outcome` is called on this event loop (call
        `submit` on it) when the call returns, unless the call was abandoned first."""
        call = FunctionCall(on_outcome, fn, args, kwargs)
        self.put(call)
        return call

    def put(self, call: ThreadCall) -> None:
        """Queue `call` (on the event loop that receives its outcome)."""
        self._loop = asyncio.get_running_loop()  # where outcomes go (the latest loop's)
        self._queued[call] = True
        self._calls.put(call)
        self._unfinished += 1
        # More calls than threads (counting a finished call as busy until it is delivered,
        # so this never starts fewer threads than needed): start one while allowed.
        if self._unfinished > self._threads < self.size:
            self._threads += 1
            threading.Thread(
                target=self._work, name=f"{self.name}-{self._threads}", daemon=True
            ).start()

    def abandon(self, call: ThreadCall, on_return: Callable[[], None] | None = None) -> bool:
        """Give up on `call`: its `outcome()` will not be called. True while a thread still
        runs it (that thread stays busy until the function returns; then `on_return` is
        called on the loop); False when it had returned, or had not started (it never will)."""
        call.abandoned = True
        if self._queued.pop(call, False):
            self._unfinished -= 1  # withdrawn before a thread took it
            return False
        if call.returned:
            return False
        call.on_return = on_return
        return True

    def close(self) -> None:
        """Let idle threads end; busy ones end after their current call."""
        for _ in range(self._threads):
            self._calls.put(None)
        self._threads = 0

    # ---- the threads -----------------------------------------------------------------

    def _work(self) -> None:
        calls, queued, outbox = self._calls, self._queued, self._outbox
        while True:
            call = calls.get()
            if call is None:
                return
            if not queued.pop(call, False):
                continue  # withdrawn by `abandon()`
            call.started = monotonic()
            try:
                outcome = (call, call.run(), None)
            except BaseException as exc:  # handed to the loop, like any other outcome
                outcome = (call, None, exc)
            call.returned = True
            outbox.append(outcome)
            del call, outcome
            if not self._signalled:
                # Another thread may signal too: a spare `_deliver` finds nothing to do.
                self._signalled = True
                # RuntimeError: the loop has closed; nobody waits for these outcomes any more.
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._deliver)  # type: ignore[union-attr]

    def _deliver(self) -> None:
        # Cleared before draining: an outcome appended after this point either is drained
        # below or finds the flag clear and signals again.
        self._signalled = False
        outbox = self._outbox
        count = len(outbox)
        self._unfinished -= count
        for _ in range(count):
            call, result, error = outbox.popleft()
            try:
                if not call.abandoned:
                    call.outcome(result, error)
                elif call.on_return is not None:
                    call.on_return()
            except Exception:  # one failing outcome must not strand the rest of the batch
                logger.exception("handling the outcome of a call on a thread failed")


#: Guards every StopFlag's rare transitions (set, wait, attach): one lock, not one per job.
_FLAGS_LOCK = threading.Lock()


class StopFlag:
    """The stop request of one thread job; a coroutine job's loop task is cancelled with it."""

    __slots__ = ("_event", "_loop", "_set", "_task")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None  # made by the first wait()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    def is_set(self) -> bool:
        """Whether the job was asked to stop."""
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Block the job's thread until a stop is requested or `timeout` passes."""
        with _FLAGS_LOCK:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def set(self) -> None:
        """Ask the job to stop (and cancel its coroutine, if it runs one)."""
        with _FLAGS_LOCK:
            self._set = True
            event, loop, task = self._event, self._loop, self._task
        if event is not None:
            event.set()
        if loop is not None and task is not None:
            # RuntimeError: that loop has closed already, so the coroutine is done.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    def attach(self, task: asyncio.Task[Any]) -> None:
        """Let `set()` cancel `task` (the coroutine job running on this thread's loop)."""
        with _FLAGS_LOCK:
            self._loop, self._task = task.get_loop(), task
            stopped = self._set
        if stopped:
            task.cancel()


_stop_flag: contextvars.ContextVar[StopFlag | None] = contextvars.ContextVar(
    "asyncz_queue_stop_flag", default=None
)


def stop_requested() -> bool:
    """True when the thread job calling it was asked to stop (cancelled, timed out, shut down).

    A long-running function on a thread should check it between steps and return (or
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


def run_job_here(func: Callable[..., Any], is_coroutine: bool, job: Job, flag: StopFlag) -> Any:
    """Run one attempt of `job` on this (worker) thread, inside a copy of the submitter's
    context: `current_job()` and `stop_requested()` see this job. A coroutine (function) is
    run to its end on an event loop of this thread's own."""
    set_current_job(job)
    _stop_flag.set(flag)
    result = func(*job.args, **job.kwargs)
    if is_coroutine or (result is not None and inspect.isawaitable(result)):
        result = asyncio.run(_await(result, flag))
    return result
