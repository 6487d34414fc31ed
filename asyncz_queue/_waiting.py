"""Waiting for an `asyncio.Event` at most so long, safely on Python 3.11."""

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
