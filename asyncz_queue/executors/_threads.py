"""`ThreadRunner`: plain functions on a few threads, outcomes handed back to the loop in batches.

`asyncio.to_thread` costs one concurrent future, one loop future and one self-pipe wake-up of
the event loop per call: about 80 µs, which caps a scheduler running short functions at about
12,000 jobs/s. Here threads take calls from one queue and put outcomes in one outbox; only the
outcome that finds the outbox empty wakes the loop, which then settles every outcome waiting
there at once. A busy loop is woken once per batch instead of once per job.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

_QUEUED, _RUNNING, _RETURNED, _DROPPED = 0, 1, 2, 3


class ThreadCall:
    """One call handed to a `ThreadRunner`: await `future` for its outcome."""

    __slots__ = ("args", "fn", "future", "kwargs", "on_return", "state")

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: asyncio.Future[Any],
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.state = _QUEUED
        self.on_return: Callable[[], None] | None = None


class ThreadRunner:
    """Runs calls on up to `size` daemon threads, started as they are needed.

    Daemon threads: a thread still running a function when the interpreter exits is not
    waited for (the scheduler's `shutdown(wait=True)` waits for every job before that).
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._calls: queue.SimpleQueue[ThreadCall | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._outbox: list[tuple[ThreadCall, Any, BaseException | None]] = []
        self._threads = 0
        self._waiting = 0  # threads waiting for a call
        self._queued = 0  # calls no thread has taken yet
        self._loop: asyncio.AbstractEventLoop | None = None

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ThreadCall:
        """Queue `fn(*args, **kwargs)`; call it on the event loop that awaits the outcome."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        call = ThreadCall(fn, args, kwargs, loop.create_future())
        with self._lock:
            # More calls waiting than threads waiting for them: start one while allowed.
            self._queued += 1
            short = self._queued > self._waiting
        self._calls.put(call)
        if short and self._threads < self.size:
            self._threads += 1
            threading.Thread(
                target=self._work, name=f"{self.name}-{self._threads}", daemon=True
            ).start()
        return call

    def abandon(self, call: ThreadCall, on_return: Callable[[], None] | None = None) -> bool:
        """Give up on `call`: True while a thread still runs it (its thread stays busy until
        the function returns; then `on_return` is called on the loop), False when it had
        returned already or had not started (it never will now)."""
        with self._lock:
            if call.state == _QUEUED:
                call.state = _DROPPED
            elif call.state == _RUNNING:
                call.on_return = on_return
                return True
        return False

    def close(self) -> None:
        """Let idle threads end; busy ones end after their current call."""
        for _ in range(self._threads):
            self._calls.put(None)
        self._threads = 0

    # ---- the threads -----------------------------------------------------------------

    def _work(self) -> None:
        calls, lock, outbox = self._calls, self._lock, self._outbox
        while True:
            with lock:
                self._waiting += 1
            call = calls.get()
            with lock:
                self._waiting -= 1
                if call is None:
                    return
                self._queued -= 1
                if call.state == _DROPPED:
                    continue
                call.state = _RUNNING
            try:
                outcome = (call, call.fn(*call.args, **call.kwargs), None)
            except BaseException as exc:  # handed to the awaiting side, as to_thread does
                outcome = (call, None, exc)
            with lock:
                call.state = _RETURNED
                outbox.append(outcome)
                first = len(outbox) == 1
            del call, outcome
            if first:
                # RuntimeError: the loop has closed; nobody waits for these outcomes any more.
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._deliver)  # type: ignore[union-attr]

    def _deliver(self) -> None:
        with self._lock:
            outcomes = self._outbox.copy()
            self._outbox.clear()
        for call, result, error in outcomes:
            future = call.future
            if not future.done():
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
            if call.on_return is not None:
                call.on_return()
