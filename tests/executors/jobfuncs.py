"""Job functions for the executor tests: importable by name, so child processes find them."""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
import time
from typing import Any

from asyncz_queue.executors.pool import stop_requested
from asyncz_queue.jobs import current_job


def add(a: int, b: int) -> int:
    """Return `a + b`."""
    return a + b


async def async_add(a: int, b: int) -> int:
    """Return `a + b` after yielding to the event loop."""
    await asyncio.sleep(0)
    return a + b


def noop() -> None:
    """Do nothing (for benchmarks)."""


def whoami() -> dict[str, Any]:
    """Where this job runs: pid, thread and the job's own context."""
    job = current_job()
    return {
        "pid": os.getpid(),
        "thread": threading.get_ident(),
        "job_id": job.id if job else None,
        "attempts": job.attempts if job else None,
        "task_id": job.task_id if job else None,
    }


async def async_whoami() -> dict[str, Any]:
    """`whoami()` from a coroutine function."""
    await asyncio.sleep(0)
    return whoami()


def fail(message: str) -> None:
    """Raise `ValueError(message)`."""
    raise ValueError(message)


def sleep(seconds: float, marker: str | None = None) -> str:
    """Block the calling thread for `seconds` (after creating `marker`)."""
    if marker is not None:
        with open(marker, "w"):
            pass
    time.sleep(seconds)
    return "slept"


async def async_sleep(seconds: float, marker: str | None = None) -> str:
    """Sleep `seconds` on the event loop that runs the job (after creating `marker`)."""
    if marker is not None:
        with open(marker, "w"):
            pass
    await asyncio.sleep(seconds)
    return "slept"


def exit_now(code: int) -> None:
    """End the process at once, without cleanup (a crashing child)."""
    os._exit(code)


def segfault() -> None:
    """Read address 0: the process dies with SIGSEGV."""
    ctypes.string_at(0)


def hog(megabytes: int) -> int:
    """Allocate `megabytes` MiB and return the size held."""
    block = bytearray(megabytes << 20)
    return len(block)


def wait_for_stop(limit: float, marker: str) -> str:
    """Write `marker.started`, loop until the job's stop flag is raised (or `limit` s pass),
    then write the outcome to `marker`."""
    with open(marker + ".started", "w"):
        pass
    deadline = time.monotonic() + limit
    while not stop_requested() and time.monotonic() < deadline:
        time.sleep(0.01)
    outcome = "stopped" if stop_requested() else "not stopped"
    with open(marker, "w") as file:
        file.write(outcome)
    return outcome


def unpicklable_result() -> Any:
    """Return a value that pickle refuses (a lock)."""
    return threading.Lock()


def wait_for_file(path: str, limit: float) -> str:
    """Block until `path` exists (or `limit` s pass); say which."""
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return "gave up"
        time.sleep(0.01)
    return "found"


def raise_timeout(message: str) -> None:
    """Raise the job's own `TimeoutError(message)` (not an executor timeout)."""
    raise TimeoutError(message)


def open_descriptors() -> list[str]:
    """What this process's file descriptors point at (`socket:[inode]`, paths, ...)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            found.append(os.readlink(f"/proc/self/fd/{name}"))
        except OSError:  # the descriptor listdir itself used, closed by now
            continue
    return found


def pair(first: str, second: str) -> list[str]:
    """Return `[first, second]` (shows the order arguments arrived in)."""
    return [first, second]


def coroutine_of(a: int, b: int) -> Any:
    """A plain function that returns a coroutine (`async_add(a, b)`), not its result."""
    return async_add(a, b)


class BrokenStr(Exception):
    """An exception whose message cannot be read."""

    def __str__(self) -> str:
        raise RuntimeError("no message for you")


def raise_broken_str() -> None:
    raise BrokenStr


async def async_raise_broken_str() -> None:
    raise BrokenStr


async def await_a_cancelled_task() -> None:
    """Fails with the `CancelledError` of a helper task that was cancelled."""
    helper = asyncio.ensure_future(asyncio.sleep(30))
    helper.cancel()
    await helper


async def give_up_waiting() -> None:
    """Fails with a `TimeoutError` of its own (an empty one, as asyncio raises)."""
    await asyncio.wait_for(asyncio.Event().wait(), 0.01)


class NeedsTwo(Exception):
    """Pickles, but cannot be rebuilt from its pickle (its `__init__` wants two arguments)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} {second}")


def result_that_cannot_be_rebuilt() -> NeedsTwo:
    return NeedsTwo("a", "b")
