"""The work loop reports a store that is slow to hand out jobs."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.schedulers import _worker
from asyncz_queue.stores import MemoryStore
from asyncz_queue.stores.base import Acquired

pytestmark = pytest.mark.anyio


class SlowStore(MemoryStore):
    """A memory store that takes a while to claim (a database under load)."""

    delay = 0.0

    async def acquire_jobs(
        self, worker_id: str, limits: dict[str, int], now: datetime, lease_seconds: float
    ) -> Acquired:
        await asyncio.sleep(self.delay)
        return await super().acquire_jobs(worker_id, limits, now, lease_seconds)


@pytest.mark.parametrize("delay", [0.0, 0.3])
async def test_a_slow_claim_is_logged_with_what_it_claimed(
    delay: float, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_worker, "SLOW_CLAIM", 0.2)
    caplog.set_level(logging.WARNING, "asyncz_queue.worker")
    store = SlowStore()
    store.delay = delay
    async with AsyncIOScheduler(stores={"default": store}) as scheduler:
        ref = await scheduler.push("tests.schedulers.funcs:add", 1, 2)
        assert (await ref.wait(timeout=10)).result == 3
    slow = [r.getMessage() for r in caplog.records if "claiming jobs" in r.getMessage()]
    if delay:
        assert any("store 'default'" in m and "(1 started, 0 skipped)" in m for m in slow)
    else:
        assert slow == []
