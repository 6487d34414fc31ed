"""ThreadRunner: real threads, outcomes back on the loop in batches, abandoned calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import pytest

from asyncz_queue.executors._threads import ThreadRunner

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runner() -> AsyncIterator[ThreadRunner]:
    threads = ThreadRunner(2, "test-runner")
    yield threads
    threads.close()


def square(value: int) -> tuple[int, int]:
    return value * value, threading.get_ident()


def refuse(value: int) -> None:
    raise ValueError(f"refused {value}")


async def test_many_calls_come_back_with_their_own_results_from_at_most_size_threads(
    runner: ThreadRunner,
) -> None:
    calls = [runner.submit(square, n) for n in range(500)]
    outcomes = await asyncio.wait_for(asyncio.gather(*(call.future for call in calls)), 10)
    assert [result for result, _ in outcomes] == [n * n for n in range(500)]
    threads = {thread for _, thread in outcomes}
    assert threading.get_ident() not in threads
    assert 1 <= len(threads) <= 2


async def test_errors_and_keyword_arguments_reach_the_awaiting_side(runner: ThreadRunner) -> None:
    with pytest.raises(ValueError, match="refused 7"):
        await asyncio.wait_for(runner.submit(refuse, value=7).future, 10)


async def test_an_abandoned_queued_call_never_runs(runner: ThreadRunner) -> None:
    release = threading.Event()
    ran: list[str] = []
    blockers = [runner.submit(release.wait, 10) for _ in range(2)]  # both threads busy
    queued = runner.submit(ran.append, "queued")
    assert runner.abandon(queued) is False  # not started: withdrawn, no thread held
    release.set()
    await asyncio.wait_for(asyncio.gather(*(call.future for call in blockers)), 10)
    after = runner.submit(ran.append, "after")
    await asyncio.wait_for(after.future, 10)
    assert ran == ["after"]


async def test_an_abandoned_running_call_reports_when_its_thread_is_free_again(
    runner: ThreadRunner,
) -> None:
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(10)
        return "late"

    call = runner.submit(hold)
    assert await asyncio.to_thread(started.wait, 10)
    returned = asyncio.Event()
    assert runner.abandon(call, returned.set) is True  # its thread stays busy
    call.future.cancel()
    assert not returned.is_set()
    release.set()
    await asyncio.wait_for(returned.wait(), 10)


async def test_abandoning_a_call_that_returned_holds_no_thread(runner: ThreadRunner) -> None:
    call = runner.submit(square, 3)
    assert (await asyncio.wait_for(call.future, 10))[0] == 9
    assert runner.abandon(call, lambda: None) is False


async def test_calls_run_side_by_side_on_idle_threads_after_a_busy_spell(
    runner: ThreadRunner,
) -> None:
    busy = [runner.submit(square, n) for n in range(300)]
    await asyncio.wait_for(asyncio.gather(*(call.future for call in busy)), 10)
    # Both threads exist and wait now; two calls that need each other must get one each.
    meet = threading.Barrier(2, timeout=5)
    pair = [runner.submit(meet.wait) for _ in range(2)]
    assert sorted(await asyncio.wait_for(asyncio.gather(*(c.future for c in pair)), 10)) == [0, 1]
