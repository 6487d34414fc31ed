"""AndTrigger and OrTrigger: coincidences, unions and a search that always ends."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from asyncz_queue.triggers import (
    AndTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    preview_fire_times,
)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def test_and_fires_where_all_parts_agree() -> None:
    trigger = AndTrigger([CronTrigger(hour="*/3"), CronTrigger(hour="*/2")])
    assert preview_fire_times(trigger, UTC, 4, now=utc(2024, 1, 1, 1)) == [
        utc(2024, 1, 1, 6),
        utc(2024, 1, 1, 12),
        utc(2024, 1, 1, 18),
        utc(2024, 1, 2, 0),
    ]


def test_and_of_interval_and_cron() -> None:
    every_90_minutes = IntervalTrigger(minutes=90, start_at=utc(2024, 1, 1))
    weekdays = CronTrigger(day_of_week="mon-fri", minute=0)
    trigger = AndTrigger([every_90_minutes, weekdays])
    # 2024-01-06 is a Saturday: the next full-hour multiple of 90 minutes is Monday 00:00.
    assert preview_fire_times(trigger, UTC, 3, now=utc(2024, 1, 5, 22)) == [
        utc(2024, 1, 6 + 2, 0),
        utc(2024, 1, 8, 3),
        utc(2024, 1, 8, 6),
    ]


def test_and_gives_up_quickly_when_parts_never_coincide() -> None:
    trigger = AndTrigger([CronTrigger(minute=0), CronTrigger(minute=30)])
    started = time.perf_counter()
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1)) is None
    assert time.perf_counter() - started < 1.0
    offset = AndTrigger(
        [IntervalTrigger(minutes=7, start_at=utc(2024, 1, 1, 0, 0, 30)), CronTrigger(second=0)]
    )
    assert offset.get_next_trigger_time(UTC, None, utc(2024, 1, 1)) is None


def test_and_finishes_when_a_part_finishes_or_lies_in_the_past() -> None:
    once = DateTrigger(utc(2024, 1, 1, 12))
    assert AndTrigger([once, CronTrigger(hour=12)]).get_next_trigger_time(
        UTC, None, utc(2024, 1, 1)
    ) == utc(2024, 1, 1, 12)
    assert (
        AndTrigger([once, CronTrigger(hour=13)]).get_next_trigger_time(UTC, None, utc(2024, 1, 1))
        is None
    )
    assert (
        AndTrigger([once, CronTrigger(hour=12)]).get_next_trigger_time(UTC, utc(2024, 1, 1, 12))
        is None
    )


def test_or_merges_the_parts_and_fires_once_per_instant() -> None:
    trigger = OrTrigger([CronTrigger(hour=9), CronTrigger(hour="9,17")])
    assert preview_fire_times(trigger, UTC, 3, now=utc(2024, 1, 1)) == [
        utc(2024, 1, 1, 9),
        utc(2024, 1, 1, 17),
        utc(2024, 1, 2, 9),
    ]


def test_or_finishes_when_every_part_finishes() -> None:
    trigger = OrTrigger([DateTrigger(utc(2024, 1, 2)), DateTrigger(utc(2024, 1, 1))])
    assert preview_fire_times(trigger, UTC, 5, now=utc(2023, 1, 1)) == [
        utc(2024, 1, 1),
        utc(2024, 1, 2),
    ]
