"""Importable job functions for the job-lifecycle tests."""

from __future__ import annotations

import asyncio
from typing import Any

attempts: dict[str, int] = {}


def fail_then_succeed(key: str, failures: int) -> str:
    """Raises `ValueError` `failures` times for `key`, then returns "done"."""
    seen = attempts.get(key, 0) + 1
    attempts[key] = seen
    if seen <= failures:
        raise ValueError(f"{key} failed attempt {seen}")
    return "done"


def raise_key_error(key: str) -> None:
    raise KeyError(key)


def interrupt() -> None:
    raise KeyboardInterrupt


async def block_forever() -> None:
    await asyncio.Event().wait()


def echo(value: Any) -> Any:
    return value


async def block_the_first_time(key: str) -> str:
    """Blocks on its first call for `key` (until interrupted); returns "ran" after that."""
    seen = attempts.get(key, 0) + 1
    attempts[key] = seen
    if seen == 1:
        await asyncio.Event().wait()
    return "ran"


runs: list[str] = []


def record_run(key: str) -> str:
    """Notes that it ran for `key` (in `runs`) and returns `key`."""
    runs.append(key)
    return key
