"""The work loop reports a store that is slow to hand out jobs, and gets past an outcome the
store refuses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

import pytest

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import SerializationError
from asyncz_queue.jobs import Job, JobState
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


class PickyStore(MemoryStore):
    """A memory store that cannot keep one result (as a database refuses some values)."""

    refused = "cannot keep this"

    async def complete_jobs(self, worker_id: str, jobs: Sequence[Job]) -> list[Job]:
        if any(job.result == self.refused for job in jobs):
            raise SerializationError(f"a value cannot be stored: {self.refused!r}")
        return await super().complete_jobs(worker_id, jobs)


async def test_an_outcome_the_store_refuses_fails_its_job_and_holds_up_no_other() -> None:
    async with AsyncIOScheduler(stores={"default": PickyStore()}) as scheduler:
        # Pushed paused, so that both outcomes arrive in one batch to write.
        await scheduler.pause()
        refused = await scheduler.push("tests.schedulers.funcs:record", PickyStore.refused)
        kept = await scheduler.push("tests.schedulers.funcs:record", "fine")
        await scheduler.resume()
        assert await kept.result(timeout=5) == "fine"
        failed = await refused.wait(timeout=5)
    assert failed.state is JobState.FAILED
    assert failed.error_type == "asyncz_queue.exceptions.SerializationError"
    assert failed.error is not None
    assert failed.error.startswith("the outcome of the attempt could not be stored")
    assert PickyStore.refused in failed.error
    assert failed.result is None and failed.attempts == 1
