"""Within an hour repeated at a DST change, two times of one zone compare by wall time
(`fold` ignored): 01:15 EST, an hour after 01:15 EDT, compares as before 01:45 EDT. Every
comparison of fire and run times goes by instant. New York falls back on 2024-11-03:
01:00-02:00 EDT (05:00-06:00 UTC) is followed by 01:00-02:00 EST (06:00-07:00 UTC)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from asyncz_queue import Task
from asyncz_queue.stores.base import BaseStore
from asyncz_queue.triggers import (
    AndTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    preview_fire_times,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
FN = "tests.stores.contract:work"


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def in_utc(times: list[datetime]) -> list[datetime]:
    return [time.astimezone(UTC) for time in times]


def test_cron_from_a_now_in_the_second_pass_never_goes_back_before_it() -> None:
    now = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=NY)  # 06:10 UTC, EST
    first = CronTrigger(minute=30, timezone=NY).get_next_trigger_time(NY, None, now)
    assert first is not None and first.astimezone(UTC) >= utc(2024, 11, 3, 6, 10)
    berlin = datetime(2024, 10, 27, 2, 0, fold=1, tzinfo=BERLIN)  # 01:00 UTC, CET
    [time] = preview_fire_times(CronTrigger(minute="*/20", timezone=BERLIN), BERLIN, 1, berlin)
    assert time.astimezone(UTC) >= utc(2024, 10, 27, 1)


def test_or_fires_the_earlier_part_first() -> None:
    cron = CronTrigger(hour=1, minute=45, timezone=NY)  # 01:45 EDT: 05:45 UTC
    hourly = IntervalTrigger(hours=1, start_at=utc(2024, 11, 3, 4, 15), timezone=NY)
    times = preview_fire_times(OrTrigger([cron, hourly]), NY, 2, now=utc(2024, 11, 3, 5, 20))
    assert in_utc(times) == [utc(2024, 11, 3, 5, 45), utc(2024, 11, 3, 6, 15)]


def test_and_fires_only_where_its_parts_agree() -> None:
    every_two_hours = IntervalTrigger(hours=2, start_at=utc(2024, 11, 3, 4), timezone=NY)
    on_the_hour = CronTrigger(minute=0, timezone=NY)  # skips the second pass: 04, 05, 07 UTC
    both = AndTrigger([every_two_hours, on_the_hour]).get_next_trigger_time(NY, utc(2024, 11, 3, 4))
    assert both is not None and both.astimezone(UTC) == utc(2024, 11, 3, 8)
    # 01:30 EDT and 01:30 EST, every two hours: never the same instant.
    first = IntervalTrigger(hours=2, start_at=utc(2024, 11, 3, 5, 30), timezone=NY)
    second = IntervalTrigger(hours=2, start_at=utc(2024, 11, 3, 6, 30), timezone=NY)
    assert AndTrigger([first, second]).get_next_trigger_time(NY, None, utc(2024, 11, 3, 5)) is None


def test_a_date_after_a_previous_time_of_the_first_pass_still_fires() -> None:
    date = DateTrigger(utc(2024, 11, 3, 6, 15), timezone=NY)  # 01:15 EST
    previous = utc(2024, 11, 3, 5, 45).astimezone(NY)  # 01:45 EDT, half an hour before
    fire = date.get_next_trigger_time(NY, previous)
    assert fire is not None and fire.astimezone(UTC) == utc(2024, 11, 3, 6, 15)


@pytest.mark.anyio
async def test_a_store_acquires_the_task_due_first_by_instant(store: BaseStore) -> None:
    due = Task(
        id="due", fn=FN, trigger=CronTrigger(hour=1, minute=45, timezone=NY),
        next_run_time=utc(2024, 11, 3, 5, 45).astimezone(NY),  # 01:45 EDT
    )  # fmt: skip
    later = Task(
        id="later", fn=FN,
        trigger=IntervalTrigger(hours=1, start_at=utc(2024, 11, 3, 4, 15), timezone=NY),
        next_run_time=utc(2024, 11, 3, 6, 15).astimezone(NY),  # 01:15 EST
    )  # fmt: skip
    await store.add_task(later)
    await store.add_task(due)
    assert await store.get_next_run_time() == utc(2024, 11, 3, 5, 45)
    assert [t.id for t in await store.acquire_tasks("s", utc(2024, 11, 3, 5, 50), 10, 30)] == [
        "due"
    ]


@pytest.mark.parametrize("trigger", ["interval", "cron"])
def test_jitter_never_pushes_a_fire_past_end_at(
    trigger: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the largest delay
    end = utc(2030, 1, 1, 12)
    if trigger == "interval":
        made = IntervalTrigger(hours=1, start_at=utc(2030, 1, 1, 11), end_at=end, jitter=600)
    else:
        made = CronTrigger(hour=12, minute=0, end_at=end, jitter=600, timezone=UTC)
    fire = made.get_next_trigger_time(UTC, utc(2030, 1, 1, 11, 30))
    assert fire == end


def test_an_interval_reaching_the_last_date_finishes() -> None:
    kiritimati = ZoneInfo("Pacific/Kiritimati")  # UTC+14: the last date ends before UTC's
    trigger = IntervalTrigger(days=1, start_at=utc(9999, 12, 30, 12))
    assert trigger.get_next_trigger_time(kiritimati, utc(9999, 12, 30, 12)) is None


def test_an_interval_takes_a_naive_now_as_wall_time_like_cron() -> None:
    trigger = IntervalTrigger(hours=1, start_at=utc(2030, 1, 1), timezone=UTC)
    assert trigger.get_next_trigger_time(UTC, None, datetime(2030, 1, 1, 0, 30)) == utc(
        2030, 1, 1, 1
    )
