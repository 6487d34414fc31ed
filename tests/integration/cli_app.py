"""The scheduler the CLI tests run: `asyncz-queue worker tests.integration.cli_app:scheduler`.

Configured by environment variables, so that each test runs the worker it needs:

- `CLI_APP_DSN` / `CLI_APP_SCHEMA`: use a PostgreSQL store (default: the memory store).
- `CLI_APP_OUT`: a file that every job appends a line to.
- `CLI_APP_BEAT`: add a task `beat` that fires every so many seconds.
- `CLI_APP_SLOW`: add a task `slow` that runs once, now, for so many seconds.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from asyncz_queue import AsyncIOScheduler


def _stores() -> dict[str, Any] | None:
    dsn = os.environ.get("CLI_APP_DSN")
    if not dsn:
        return None
    schema = os.environ.get("CLI_APP_SCHEMA", "asyncz_queue")
    return {"default": {"type": "postgres", "dsn": dsn, "schema": schema}}


scheduler = AsyncIOScheduler(stores=_stores(), identity=os.environ.get("CLI_APP_IDENTITY"))
not_a_scheduler = "just a string"


def record(text: str) -> str:
    """Append `text` to the file named by `CLI_APP_OUT`; return it."""
    with Path(os.environ["CLI_APP_OUT"]).open("a") as out:
        out.write(text + "\n")
    return text


async def slow(seconds: float) -> str:
    """Record `started`, sleep, record `finished`."""
    record("started")
    await asyncio.sleep(seconds)
    return record("finished")


async def held(release: str) -> str:
    """Record `started`, wait until the file `release` exists, record `finished` (a job
    that runs exactly as long as its test needs, however slow the machine)."""
    record("started")
    for _ in range(3000):  # at most a minute
        if Path(release).exists():
            break
        await asyncio.sleep(0.02)
    return record("finished")


if beat := os.environ.get("CLI_APP_BEAT"):
    scheduler.task("interval", seconds=float(beat), id="beat", args=["beat"])(record)
if slow_seconds := os.environ.get("CLI_APP_SLOW"):
    scheduler.task(None, id="slow", args=[float(slow_seconds)])(slow)
