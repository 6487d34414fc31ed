"""`Wakeup`: what the fire and work loops sleep on."""

from __future__ import annotations

import asyncio

import pytest

from asyncz_queue._waiting import Wakeup

pytestmark = pytest.mark.anyio


async def test_a_set_before_the_wait_returns_at_once() -> None:
    wakeup = Wakeup()
    wakeup.set()
    assert await wakeup.wait(3600) is True
    assert wakeup.is_set()


async def test_a_cleared_set_is_forgotten_and_the_timeout_ends_the_wait() -> None:
    wakeup = Wakeup()
    wakeup.set()
    wakeup.clear()
    assert await wakeup.wait(0.01) is False
    assert not wakeup.is_set()


async def test_a_set_wakes_the_sleeper_within_one_step_of_the_loop() -> None:
    wakeup = Wakeup()
    sleeper = asyncio.create_task(wakeup.wait(3600))
    await asyncio.sleep(0)  # the sleeper waits
    wakeup.set()
    await asyncio.sleep(0)  # one step: the sleeper has resumed
    assert sleeper.done()
    assert sleeper.result() is True


async def test_a_cancel_reaches_the_sleeper_and_leaves_no_waiter_behind() -> None:
    wakeup = Wakeup()
    sleeper = asyncio.create_task(wakeup.wait(3600))
    await asyncio.sleep(0)
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    # Another wait may begin, and a set after the cancel wakes it.
    wakeup.set()
    assert await wakeup.wait(3600) is True


async def test_a_second_waiter_at_the_same_time_is_refused() -> None:
    wakeup = Wakeup()
    sleeper = asyncio.create_task(wakeup.wait(3600))
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="one waiter"):
        await wakeup.wait(1)
    wakeup.set()
    assert await sleeper is True
