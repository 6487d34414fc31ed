"""CronTrigger: field expressions, calendar edge cases and the DST rules, with exact datetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from asyncz_queue.triggers import CronTrigger, preview_fire_times

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def fires(trigger: CronTrigger, now: datetime, count: int = 4) -> list[datetime]:
    return preview_fire_times(trigger, UTC, count, now=now)


def as_utc(times: list[datetime]) -> list[datetime]:
    return [time.astimezone(UTC) for time in times]


def test_missing_fields_default_to_minimum_below_and_star_above() -> None:
    trigger = CronTrigger(hour=3)
    assert trigger.fields == {
        "year": "*",
        "month": "*",
        "day": "*",
        "week": "*",
        "day_of_week": "*",
        "hour": "3",
        "minute": "0",
        "second": "0",
    }
    assert fires(trigger, utc(2024, 1, 1, 3, 0, 1), 2) == [utc(2024, 1, 2, 3), utc(2024, 1, 3, 3)]


def test_fields_between_given_ones_are_star() -> None:
    trigger = CronTrigger(month=6, minute=30)
    assert fires(trigger, utc(2024, 5, 20)) == [
        utc(2024, 6, 1, 0, 30),
        utc(2024, 6, 1, 1, 30),
        utc(2024, 6, 1, 2, 30),
        utc(2024, 6, 1, 3, 30),
    ]


def test_no_field_fires_every_second() -> None:
    assert fires(CronTrigger(), utc(2024, 1, 1, 0, 0, 0, 500), 2) == [
        utc(2024, 1, 1, 0, 0, 1),
        utc(2024, 1, 1, 0, 0, 2),
    ]


def test_previous_time_none_includes_now_and_previous_time_excludes_it() -> None:
    trigger = CronTrigger(minute="*/5")
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1, 10, 5)) == utc(
        2024, 1, 1, 10, 5
    )
    assert trigger.get_next_trigger_time(UTC, utc(2024, 1, 1, 10, 5)) == utc(2024, 1, 1, 10, 10)


def test_day_31_skips_shorter_months() -> None:
    assert fires(CronTrigger(day=31), utc(2024, 1, 31, 0, 0, 1), 3) == [
        utc(2024, 3, 31),
        utc(2024, 5, 31),
        utc(2024, 7, 31),
    ]


def test_last_day_of_month_handles_leap_years() -> None:
    assert fires(CronTrigger(day="last"), utc(2023, 12, 31, 12), 4) == [
        utc(2024, 1, 31),
        utc(2024, 2, 29),
        utc(2024, 3, 31),
        utc(2024, 4, 30),
    ]
    assert fires(CronTrigger(month=2, day="last"), utc(2023, 1, 1), 3) == [
        utc(2023, 2, 28),
        utc(2024, 2, 29),
        utc(2025, 2, 28),
    ]


def test_29_february_fires_only_in_leap_years() -> None:
    assert fires(CronTrigger(month=2, day=29), utc(2021, 1, 1), 3) == [
        utc(2024, 2, 29),
        utc(2028, 2, 29),
        utc(2032, 2, 29),
    ]
    # 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
    assert fires(CronTrigger(month=2, day=29), utc(2097, 1, 1), 1) == [utc(2104, 2, 29)]


def test_year_field_limits_and_finishes() -> None:
    trigger = CronTrigger(year="2024-2026", month=2, day="last")
    assert fires(trigger, utc(2020, 1, 1), 5) == [
        utc(2024, 2, 29),
        utc(2025, 2, 28),
        utc(2026, 2, 28),
    ]
    assert (
        CronTrigger(year=2025, month=2, day=29).get_next_trigger_time(UTC, None, utc(2020, 1, 1))
        is None
    )


def test_last_friday_of_the_month() -> None:
    assert fires(CronTrigger(day="last fri", hour=9), utc(2024, 1, 1)) == [
        utc(2024, 1, 26, 9),
        utc(2024, 2, 23, 9),
        utc(2024, 3, 29, 9),
        utc(2024, 4, 26, 9),
    ]


def test_first_monday_and_fifth_sunday() -> None:
    assert fires(CronTrigger(day="1st mon", hour=9), utc(2024, 1, 1)) == [
        utc(2024, 1, 1, 9),
        utc(2024, 2, 5, 9),
        utc(2024, 3, 4, 9),
        utc(2024, 4, 1, 9),
    ]
    # Only months with five Sundays: March, June, September, December 2024.
    assert fires(CronTrigger(day="5th sun"), utc(2024, 1, 1)) == [
        utc(2024, 3, 31),
        utc(2024, 6, 30),
        utc(2024, 9, 29),
        utc(2024, 12, 29),
    ]


def test_ranges_with_steps_and_lists() -> None:
    trigger = CronTrigger(hour="9-17/4", minute="10-50/20")
    assert fires(trigger, utc(2024, 1, 1), 7) == [
        utc(2024, 1, 1, 9, 10),
        utc(2024, 1, 1, 9, 30),
        utc(2024, 1, 1, 9, 50),
        utc(2024, 1, 1, 13, 10),
        utc(2024, 1, 1, 13, 30),
        utc(2024, 1, 1, 13, 50),
        utc(2024, 1, 1, 17, 10),
    ]
    assert fires(CronTrigger(second="5,25/20"), utc(2024, 1, 1), 3) == [
        utc(2024, 1, 1, 0, 0, 5),
        utc(2024, 1, 1, 0, 0, 25),
        utc(2024, 1, 1, 0, 0, 45),
    ]


def test_month_and_weekday_names() -> None:
    trigger = CronTrigger(month="nov-dec", day_of_week="sat-sun", hour=8)
    assert fires(trigger, utc(2024, 6, 1)) == [
        utc(2024, 11, 2, 8),
        utc(2024, 11, 3, 8),
        utc(2024, 11, 9, 8),
        utc(2024, 11, 10, 8),
    ]


def test_day_and_day_of_week_must_both_match() -> None:
    # The Monday among the first seven days: the first Monday of each month.
    trigger = CronTrigger(day="1-7", day_of_week="mon", hour=6)
    assert fires(trigger, utc(2024, 1, 2), 3) == [
        utc(2024, 2, 5, 6),
        utc(2024, 3, 4, 6),
        utc(2024, 4, 1, 6),
    ]


def test_iso_week_field() -> None:
    # ISO week 1 of 2025 starts on Monday 30 December 2024.
    trigger = CronTrigger(week=1, day_of_week="mon")
    assert fires(trigger, utc(2024, 1, 2), 2) == [utc(2024, 12, 30), utc(2025, 12, 29)]


def test_start_at_and_end_at_bound_the_fire_times() -> None:
    trigger = CronTrigger(
        hour=12, start_at=utc(2024, 5, 3, 12, 0, 1), end_at=utc(2024, 5, 6, 12), timezone="UTC"
    )
    assert fires(trigger, utc(2024, 1, 1), 5) == [
        utc(2024, 5, 4, 12),
        utc(2024, 5, 5, 12),
        utc(2024, 5, 6, 12),
    ]


def test_timezone_reads_wall_clock_time() -> None:
    trigger = CronTrigger(hour=9, timezone="America/New_York")
    # 09:00 EST is 14:00 UTC; after the spring change 09:00 EDT is 13:00 UTC.
    assert as_utc(fires(trigger, utc(2024, 3, 9), 2)) == [utc(2024, 3, 9, 14), utc(2024, 3, 10, 13)]


def test_scheduler_timezone_applies_when_the_trigger_has_none() -> None:
    trigger = CronTrigger(hour=9)
    first = trigger.get_next_trigger_time(BERLIN, None, utc(2024, 7, 1))
    assert first == datetime(2024, 7, 1, 9, tzinfo=BERLIN)
    assert first is not None and first.tzinfo is BERLIN


@pytest.mark.parametrize(
    ("zone", "hour", "minute", "day", "expected_utc"),
    [
        # Berlin jumps from 02:00 CET to 03:00 CEST: 02:30 fires at 03:00 CEST.
        (BERLIN, 2, 30, datetime(2024, 3, 31), utc(2024, 3, 31, 1)),
        # New York jumps from 02:00 EST to 03:00 EDT.
        (NEW_YORK, 2, 30, datetime(2024, 3, 10), utc(2024, 3, 10, 7)),
        # Lord Howe jumps 30 minutes, from 02:00 +10:30 to 02:30 +11:00.
        (LORD_HOWE, 2, 15, datetime(2024, 10, 6), utc(2024, 10, 5, 15, 30)),
    ],
)
def test_cron_time_in_spring_gap_fires_once_after_the_gap(
    zone: ZoneInfo, hour: int, minute: int, day: datetime, expected_utc: datetime
) -> None:
    trigger = CronTrigger(hour=hour, minute=minute, timezone=zone)
    times = fires(trigger, day.replace(tzinfo=zone), 2)
    # Compare in UTC: Python never finds a repeated wall time equal to another zone's time.
    assert times[0].astimezone(UTC) == expected_utc
    assert times[1] == (day + timedelta(days=1)).replace(hour=hour, minute=minute, tzinfo=zone)


@pytest.mark.parametrize(
    ("zone", "hour", "minute", "day", "expected_utc"),
    [
        # Berlin repeats 02:00-03:00: 02:30 fires once, in CEST.
        (BERLIN, 2, 30, datetime(2024, 10, 27), utc(2024, 10, 27, 0, 30)),
        # New York repeats 01:00-02:00: 01:30 fires once, in EDT.
        (NEW_YORK, 1, 30, datetime(2024, 11, 3), utc(2024, 11, 3, 5, 30)),
        # Lord Howe repeats 01:30-02:00: 01:45 fires once, at +11:00.
        (LORD_HOWE, 1, 45, datetime(2024, 4, 7), utc(2024, 4, 6, 14, 45)),
    ],
)
def test_cron_time_in_autumn_overlap_fires_once_at_first_occurrence(
    zone: ZoneInfo, hour: int, minute: int, day: datetime, expected_utc: datetime
) -> None:
    trigger = CronTrigger(hour=hour, minute=minute, timezone=zone)
    times = fires(trigger, day.replace(tzinfo=zone), 2)
    # Compare in UTC: Python never finds a repeated wall time equal to another zone's time.
    assert times[0].astimezone(UTC) == expected_utc
    assert times[1] == (day + timedelta(days=1)).replace(hour=hour, minute=minute, tzinfo=zone)


def test_frequent_cron_collapses_the_gap_into_one_fire() -> None:
    trigger = CronTrigger(minute="*/15", timezone=LORD_HOWE)
    times = fires(trigger, datetime(2024, 10, 6, 1, 40, tzinfo=LORD_HOWE), 4)
    assert [time.isoformat() for time in times] == [
        "2024-10-06T01:45:00+10:30",
        "2024-10-06T02:30:00+11:00",
        "2024-10-06T02:45:00+11:00",
        "2024-10-06T03:00:00+11:00",
    ]


def test_frequent_cron_skips_the_second_pass_of_a_repeated_hour() -> None:
    trigger = CronTrigger(minute="*/20", timezone=BERLIN)
    times = fires(trigger, datetime(2024, 10, 27, 1, 50, tzinfo=BERLIN), 5)
    assert [time.isoformat() for time in times] == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:20:00+02:00",
        "2024-10-27T02:40:00+02:00",
        "2024-10-27T03:00:00+01:00",
        "2024-10-27T03:20:00+01:00",
    ]


def test_previous_time_in_second_pass_continues_after_the_repetition() -> None:
    trigger = CronTrigger(minute="*/15", timezone=NEW_YORK)
    second_pass = datetime(2024, 11, 3, 1, 10, tzinfo=NEW_YORK, fold=1)  # 06:10 UTC, EST
    assert trigger.get_next_trigger_time(UTC, second_pass) == datetime(
        2024, 11, 3, 2, 0, tzinfo=NEW_YORK
    )


def test_from_crontab_uses_crontab_weekdays() -> None:
    assert CronTrigger.from_crontab("0 9 * * 1-5").fields["day_of_week"] == "mon,tue,wed,thu,fri"
    assert CronTrigger.from_crontab("0 9 * * 0").fields["day_of_week"] == "sun"
    assert CronTrigger.from_crontab("0 9 * * 7").fields["day_of_week"] == "sun"
    assert CronTrigger.from_crontab("0 9 * * 5-7").fields["day_of_week"] == "fri,sat,sun"
    assert CronTrigger.from_crontab("0 9 * * sat,sun").fields["day_of_week"] == "sat,sun"
    # 2024-01-07 is a Sunday.
    assert fires(CronTrigger.from_crontab("30 8 * * 0"), utc(2024, 1, 1), 1) == [
        utc(2024, 1, 7, 8, 30)
    ]


@pytest.mark.parametrize(
    ("shortcut", "expected"),
    [
        ("@hourly", [utc(2024, 1, 31, 11), utc(2024, 1, 31, 12)]),
        ("@daily", [utc(2024, 2, 1), utc(2024, 2, 2)]),
        ("@weekly", [utc(2024, 2, 4), utc(2024, 2, 11)]),
        ("@monthly", [utc(2024, 2, 1), utc(2024, 3, 1)]),
        ("@yearly", [utc(2025, 1, 1), utc(2026, 1, 1)]),
    ],
)
def test_crontab_shortcuts(shortcut: str, expected: list[datetime]) -> None:
    assert fires(CronTrigger.from_crontab(shortcut), utc(2024, 1, 31, 10, 30), 2) == expected


def test_crontab_timezone_and_last_day() -> None:
    trigger = CronTrigger.from_crontab("0 0 L * *", timezone="Europe/Berlin")
    assert fires(trigger, utc(2024, 2, 1), 1) == [datetime(2024, 2, 29, tzinfo=BERLIN)]


def test_impossible_combination_finishes_with_none() -> None:
    trigger = CronTrigger(day="1st mon", day_of_week="tue")
    assert trigger.get_next_trigger_time(UTC, None, utc(2024, 1, 1)) is None
