"""DateTrigger: fires once; naive wall times follow the DST rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from asyncz_queue.triggers import DateTrigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def test_fires_once_then_finishes() -> None:
    run_at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    trigger = DateTrigger(run_at)
    assert trigger.get_next_trigger_time(UTC, None, datetime(2024, 1, 1, tzinfo=UTC)) == run_at
    assert trigger.get_next_trigger_time(UTC, run_at) is None


def test_past_run_at_is_still_returned_first() -> None:
    run_at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    later = datetime(2024, 6, 1, tzinfo=UTC)
    assert DateTrigger(run_at).get_next_trigger_time(UTC, None, later) == run_at


def test_default_run_at_is_construction_time() -> None:
    before = datetime.now(UTC)
    trigger = DateTrigger()
    assert before <= trigger.run_at <= datetime.now(UTC)


def test_iso_string_is_accepted() -> None:
    trigger = DateTrigger("2024-05-01T12:00:00", timezone="America/New_York")
    assert trigger.run_at.isoformat() == "2024-05-01T12:00:00-04:00"


def test_aware_run_at_is_converted_to_the_trigger_timezone() -> None:
    trigger = DateTrigger(datetime(2024, 7, 1, 10, tzinfo=UTC), timezone=BERLIN)
    assert trigger.run_at.isoformat() == "2024-07-01T12:00:00+02:00"


def test_naive_run_at_without_timezone_uses_the_scheduler_timezone() -> None:
    trigger = DateTrigger(datetime(2024, 7, 1, 9))
    assert trigger.get_next_trigger_time(NEW_YORK, None).isoformat() == (
        "2024-07-01T09:00:00-04:00"
    )
    assert trigger.get_next_trigger_time(BERLIN, None).isoformat() == "2024-07-01T09:00:00+02:00"


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        (BERLIN, datetime(2024, 3, 31, 2, 30), "2024-03-31T03:00:00+02:00"),
        (NEW_YORK, datetime(2024, 3, 10, 2, 59, 59), "2024-03-10T03:00:00-04:00"),
        (LORD_HOWE, datetime(2024, 10, 6, 2, 15), "2024-10-06T02:30:00+11:00"),
    ],
)
def test_wall_time_in_spring_gap_fires_at_end_of_gap(
    zone: ZoneInfo, wall: datetime, expected: str
) -> None:
    assert DateTrigger(wall, timezone=zone).run_at.isoformat() == expected
    # Same rule when the scheduler's timezone supplies the zone at call time.
    assert DateTrigger(wall).get_next_trigger_time(zone, None).isoformat() == expected


@pytest.mark.parametrize(
    ("zone", "wall", "expected_utc"),
    [
        (BERLIN, datetime(2024, 10, 27, 2, 30), datetime(2024, 10, 27, 0, 30)),
        (NEW_YORK, datetime(2024, 11, 3, 1, 30), datetime(2024, 11, 3, 5, 30)),
        (LORD_HOWE, datetime(2024, 4, 7, 1, 45), datetime(2024, 4, 6, 14, 45)),
    ],
)
def test_wall_time_in_autumn_overlap_fires_at_first_occurrence(
    zone: ZoneInfo, wall: datetime, expected_utc: datetime
) -> None:
    fire = DateTrigger(wall, timezone=zone).get_next_trigger_time(UTC, None)
    assert fire is not None
    assert fire.astimezone(UTC) == expected_utc.replace(tzinfo=UTC)
    assert fire.fold == 0


def test_utc_is_never_shifted() -> None:
    wall = datetime(2024, 3, 31, 2, 30)
    fire = DateTrigger(wall, timezone="UTC").get_next_trigger_time(BERLIN, None)
    assert fire == wall.replace(tzinfo=UTC)
    assert fire is not None and fire.utcoffset() == timedelta(0)
