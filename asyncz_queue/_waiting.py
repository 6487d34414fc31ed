"""Waiting for something to be set, at most so long, safely on Python 3.11."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until `event` is set or `timeout` seconds pass; True when it was set.

    Not `asyncio.timeout` + `suppress(TimeoutError)`: on 3.11 a cancel that lands as the
    timeout expires comes out as TimeoutError, and suppressing it loses the cancel (a loop
    being shut down then runs on). `asyncio.wait` never eats a cancel.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter], timeout=timeout)
    finally:
        waiter.cancel()
    return event.is_set()


class Wakeup:
    """What a sleeping loop waits on: `set()` wakes it, or its timeout runs out.

    Cheaper and quicker than `wait_event`, which a loop would call every time it sleeps:
    one future and one timer, no task, so a `set()` resumes the loop in one step of the
    event loop instead of three (the latency of a job pushed to an idle worker). A cancel
    is never lost: it arrives as `CancelledError` from the awaited future. One waiter at a
    time (each loop has its own).
    """

    __slots__ = ("_flag", "_waiter")

    def __init__(self) -> None:
        self._flag = False
        self._waiter: asyncio.Future[None] | None = None

    def set(self) -> None:
        """Wake the waiter, or make the next `wait` return at once."""
        self._flag = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        """Forget a `set()` not yet waited for."""
        self._flag = False

    def is_set(self) -> bool:
        """Whether `set()` was called since the last `clear()`."""
        return self._flag

    async def wait(self, timeout: float | None = None) -> bool:
        """Return once set (True) or after `timeout` seconds (False); None: no timeout."""
        if self._flag:
            return True
        if self._waiter is not None:
            raise RuntimeError("a Wakeup has one waiter at a time")
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
        return self._flag


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
