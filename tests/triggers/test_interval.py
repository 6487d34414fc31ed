"""IntervalTrigger: elapsed-time arithmetic, bounds, and DST that does not stretch intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from asyncz_queue.triggers import IntervalTrigger, preview_fire_times

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def iso(times: list[datetime]) -> list[str]:
    return [time.isoformat() for time in times]


def test_first_fire_is_the_first_grid_point_at_or_after_now() -> None:
    trigger = IntervalTrigger(minutes=15, start_at=utc(2024, 1, 1, 10))
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1, 9)) == utc(2024, 1, 1, 10)
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1, 10, 20)) == utc(
        2024, 1, 1, 10, 30
    )
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1, 10, 30)) == utc(
        2024, 1, 1, 10, 30
    )


def test_next_fire_is_strictly_after_previous_time_and_on_the_grid() -> None:
    trigger = IntervalTrigger(minutes=15, start_at=utc(2024, 1, 1, 10))
    assert trigger.get_next_trigger_time(UTC, utc(2024, 1, 1, 10, 30)) == utc(2024, 1, 1, 10, 45)
    # A late (or jittered) previous time does not shift the schedule.
    assert trigger.get_next_trigger_time(UTC, utc(2024, 1, 1, 10, 31, 7)) == utc(2024, 1, 1, 10, 45)


def test_units_add_up_and_fractional_seconds_are_exact() -> None:
    trigger = IntervalTrigger(weeks=1, days=1, hours=1, minutes=1, seconds=1.5)
    assert trigger.interval == timedelta(days=8, hours=1, minutes=1, seconds=1.5)
    fast = IntervalTrigger(seconds=0.2, start_at=utc(2024, 1, 1))
    assert preview_fire_times(fast, UTC, 4, now=utc(2024, 1, 1, 0, 0, 0, 100_000)) == [
        utc(2024, 1, 1, 0, 0, 0, 200_000),
        utc(2024, 1, 1, 0, 0, 0, 400_000),
        utc(2024, 1, 1, 0, 0, 0, 600_000),
        utc(2024, 1, 1, 0, 0, 0, 800_000),
    ]


def test_start_at_defaults_to_construction_time_plus_interval() -> None:
    before = datetime.now(UTC)
    trigger = IntervalTrigger(minutes=5)
    after = datetime.now(UTC)
    assert before + timedelta(minutes=5) <= trigger.start_at <= after + timedelta(minutes=5)
    assert trigger.to_dict()["start_at"] == trigger.start_at.isoformat()


def test_end_at_is_inclusive_and_then_finishes() -> None:
    trigger = IntervalTrigger(hours=1, start_at=utc(2024, 1, 1, 10), end_at=utc(2024, 1, 1, 12))
    assert preview_fire_times(trigger, UTC, 5, now=utc(2024, 1, 1)) == [
        utc(2024, 1, 1, 10),
        utc(2024, 1, 1, 11),
        utc(2024, 1, 1, 12),
    ]
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1, 12, 0, 1)) is None


def test_hourly_interval_counts_elapsed_time_across_berlin_spring_gap() -> None:
    trigger = IntervalTrigger(hours=1, start_at=datetime(2024, 3, 31, 0, 30), timezone=BERLIN)
    assert iso(preview_fire_times(trigger, UTC, 4, now=utc(2024, 3, 30))) == [
        "2024-03-31T00:30:00+01:00",
        "2024-03-31T01:30:00+01:00",
        "2024-03-31T03:30:00+02:00",
        "2024-03-31T04:30:00+02:00",
    ]


def test_hourly_interval_visits_the_repeated_hour_twice_in_new_york() -> None:
    trigger = IntervalTrigger(hours=1, start_at=datetime(2024, 11, 3, 0, 30), timezone=NEW_YORK)
    assert iso(preview_fire_times(trigger, UTC, 4, now=utc(2024, 11, 3))) == [
        "2024-11-03T00:30:00-04:00",
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T01:30:00-05:00",
        "2024-11-03T02:30:00-05:00",
    ]


def test_daily_interval_is_24_elapsed_hours_across_dst() -> None:
    trigger = IntervalTrigger(days=1, start_at=datetime(2024, 3, 30, 12), timezone=BERLIN)
    assert iso(preview_fire_times(trigger, UTC, 3, now=utc(2024, 3, 30))) == [
        "2024-03-30T12:00:00+01:00",
        "2024-03-31T13:00:00+02:00",
        "2024-04-01T13:00:00+02:00",
    ]


def test_half_hour_interval_across_lord_howe_30_minute_shift() -> None:
    trigger = IntervalTrigger(minutes=30, start_at=datetime(2024, 10, 6, 1, 30), timezone=LORD_HOWE)
    assert iso(preview_fire_times(trigger, UTC, 3, now=utc(2024, 10, 5))) == [
        "2024-10-06T01:30:00+10:30",
        "2024-10-06T02:30:00+11:00",
        "2024-10-06T03:00:00+11:00",
    ]
    back = IntervalTrigger(minutes=30, start_at=datetime(2024, 4, 7, 1, 0), timezone=LORD_HOWE)
    assert iso(preview_fire_times(back, UTC, 4, now=utc(2024, 4, 6))) == [
        "2024-04-07T01:00:00+11:00",
        "2024-04-07T01:30:00+11:00",
        "2024-04-07T01:30:00+10:30",
        "2024-04-07T02:00:00+10:30",
    ]


def test_naive_start_in_spring_gap_starts_after_the_gap() -> None:
    trigger = IntervalTrigger(hours=1, start_at=datetime(2024, 3, 10, 2, 30), timezone=NEW_YORK)
    assert trigger.start_at.isoformat() == "2024-03-10T03:00:00-04:00"


def test_naive_start_without_timezone_uses_the_scheduler_timezone() -> None:
    trigger = IntervalTrigger(hours=6, start_at=datetime(2024, 7, 1, 8))
    assert trigger.get_next_trigger_time(BERLIN, None, utc(2024, 7, 1)).isoformat() == (
        "2024-07-01T08:00:00+02:00"
    )
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 7, 1)).isoformat() == (
        "2024-07-01T08:00:00+00:00"
    )


def test_jitter_adds_at_most_jitter_seconds_without_drift() -> None:
    trigger = IntervalTrigger(minutes=10, start_at=utc(2024, 1, 1), jitter=30)
    previous = None
    for step in range(1, 20):
        fire = trigger.get_next_trigger_time(UTC, previous, utc(2024, 1, 1, 0, 0, 1))
        grid = utc(2024, 1, 1) + timedelta(minutes=10 * step)
        assert fire is not None and grid <= fire <= grid + timedelta(seconds=30)
        previous = fire
