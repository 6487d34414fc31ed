"""Importable job functions for the scheduler tests (stores keep them by name)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asyncz_queue import current_job

calls: list[Any] = []
gate = asyncio.Event()


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def record(value: Any) -> Any:
    calls.append(value)
    return value


async def async_record(value: Any) -> Any:
    calls.append(value)
    return value


def thread_name() -> str:
    return threading.current_thread().name


def boom(message: str = "boom") -> None:
    raise RuntimeError(message)


def exit_job() -> None:
    raise SystemExit(3)


async def wait_for_gate() -> str:
    await gate.wait()
    return "opened"


async def sleep_for(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


failures: dict[str, int] = {}


def flaky(key: str, fail_times: int) -> str:
    """Fails `fail_times` times for `key`, then succeeds."""
    count = failures.get(key, 0)
    if count < fail_times:
        failures[key] = count + 1
        raise ValueError(f"attempt {count + 1} failed")
    return "ok"


def not_json() -> object:
    return object()


def whoami() -> dict[str, Any]:
    job = current_job()
    assert job is not None
    return {"id": job.id, "attempt": job.attempts, "task_id": job.task_id}


#: The scheduler the shutdown jobs below stop (set by the test).
scheduler: Any = None


async def shut_down_inside() -> str:
    await scheduler.shutdown()
    return "returned"


async def shut_down_after() -> str:
    asyncio.get_running_loop().create_task(scheduler.shutdown())
    return "scheduled"
