"""Bad input raises a ValueError subclass whose message names the field and the value."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from asyncz_queue.exceptions import UnknownAliasError
from asyncz_queue.triggers import (
    AndTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    InvalidTriggerError,
    TriggerArgumentError,
    build_trigger,
    trigger_from_dict,
)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"minute": "61"}, "minute='61' is invalid: 61 is outside 0-59"),
        ({"minute": 61}, "minute='61' is invalid: 61 is outside 0-59"),
        ({"hour": "24"}, "hour='24' is invalid: 24 is outside 0-23"),
        ({"second": "-1"}, "second='-1' is invalid: '-1' is not a valid expression"),
        ({"day": "32"}, "day='32' is invalid: 32 is outside 1-31"),
        ({"day": "0"}, "day='0' is invalid: 0 is outside 1-31"),
        ({"month": "13"}, "month='13' is invalid: 13 is outside 1-12"),
        ({"month": "smarch"}, "month='smarch' is invalid: 'smarch' is not a month name or number"),
        ({"week": "54"}, "week='54' is invalid: 54 is outside 1-53"),
        ({"year": "1969"}, "year='1969' is invalid: 1969 is outside 1970-9999"),
        (
            {"day_of_week": "funday"},
            "day_of_week='funday' is invalid: 'funday' is not a weekday name or number",
        ),
        ({"day_of_week": "7"}, "day_of_week='7' is invalid: 7 is outside 0-6"),
        ({"minute": "*/0"}, "minute='*/0' is invalid: the step must be at least 1, got 0"),
        ({"hour": "5-3"}, "hour='5-3' is invalid: the range 5-3 is reversed"),
        ({"minute": "1,,2"}, "minute='1,,2' is invalid: empty expression"),
        ({"minute": "*-5"}, "minute='*-5' is invalid: '*' cannot start a range"),
        ({"day": "6th mon"}, "day='6th mon' is invalid: '6th mon' is not a valid expression"),
        ({"day": "last funday"}, "day='last funday' is invalid: 'funday' is not a weekday name"),
        ({"hour": 1.5}, "hour=1.5 must be an int or a string expression"),
    ],
)
def test_cron_field_errors_name_field_and_value(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTriggerError, match=f"^{re.escape(message)}$"):
        CronTrigger(**fields)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "* * * * * *",
            "crontab expression '* * * * * *' has 6 fields; expected 5"
            " (minute hour day month day_of_week)",
        ),
        ("* * * *", "crontab expression '* * * *' has 4 fields; expected 5"),
        ("@fortnightly", "crontab expression '@fortnightly' is not a known shortcut"),
        ("0 9 * * 8", "day_of_week='8' is invalid: 8 is outside 0-7"),
        ("0 9 * * funday", "day_of_week='funday' is invalid: 'funday' is not a weekday"),
        ("0 9 * * */0", "day_of_week='*/0' is invalid: the step must be at least 1, got 0"),
        ("60 * * * *", "minute='60' is invalid: 60 is outside 0-59"),
    ],
)
def test_crontab_errors(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        CronTrigger.from_crontab(expression)


def test_unknown_timezone_is_named() -> None:
    for make in (
        lambda: CronTrigger(timezone="Mars/Olympus_Mons"),
        lambda: IntervalTrigger(hours=1, timezone="Mars/Olympus_Mons"),
        lambda: DateTrigger(timezone="Mars/Olympus_Mons"),
        lambda: CronTrigger.from_crontab("* * * * *", timezone="Mars/Olympus_Mons"),
    ):
        with pytest.raises(ValueError, match=r"^timezone='Mars/Olympus_Mons' is not a known"):
            make()


def test_end_before_start_is_rejected() -> None:
    start, end = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    message = re.escape(
        "end_at='2024-01-01T00:00:00+00:00' is before start_at='2024-02-01T00:00:00+00:00'"
    )
    with pytest.raises(InvalidTriggerError, match=message):
        CronTrigger(hour=1, start_at=start, end_at=end)
    with pytest.raises(InvalidTriggerError, match=message):
        IntervalTrigger(hours=1, start_at=start, end_at=end)


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ({"seconds": -5}, "the interval must be positive, got -5.0 s (seconds=-5)"),
        ({}, "the interval must be positive, got 0.0 s (all units 0)"),
        ({"hours": 1, "minutes": -60}, "got 0.0 s (hours=1, minutes=-60)"),
        ({"minutes": "5"}, "minutes='5' is not a number"),
    ],
)
def test_interval_must_be_positive(units: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTriggerError, match=re.escape(message)):
        IntervalTrigger(**units)


@pytest.mark.parametrize(
    ("units", "message"),
    [
        ({"weeks": 1e12}, "the interval (weeks=1000000000000.0) is not a length of time"),
        ({"seconds": float("nan")}, "the interval (seconds=nan) is not a length of time"),
        ({"days": 1e8}, "the interval (days=100000000.0) first fires past the last date"),
    ],
)
def test_an_interval_past_what_datetimes_hold_is_named(units: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTriggerError, match=re.escape(message)):
        IntervalTrigger(**units)


@pytest.mark.parametrize("jitter", [float("inf"), float("nan")])
def test_an_endless_jitter_is_refused(jitter: float) -> None:
    for make in (IntervalTrigger, CronTrigger):
        with pytest.raises(InvalidTriggerError, match="must be a non-negative, finite number"):
            make(jitter=jitter) if make is CronTrigger else make(seconds=1, jitter=jitter)


def test_near_the_last_date_an_interval_ends_and_a_jitter_adds_nothing() -> None:
    start = datetime(9999, 6, 1, tzinfo=UTC)
    yearly = IntervalTrigger(days=365, start_at=start)
    assert yearly.get_next_trigger_time(UTC, start, start) is None
    last = datetime.max.replace(tzinfo=UTC) - timedelta(seconds=1)
    jittery = IntervalTrigger(days=1, start_at=last, jitter=1e300)
    assert jittery.get_next_trigger_time(UTC, None, last) == last


def test_bad_datetimes_and_jitter_are_named() -> None:
    with pytest.raises(InvalidTriggerError, match=r"^run_at='tomorrow' is not a datetime"):
        DateTrigger("tomorrow")
    with pytest.raises(InvalidTriggerError, match=r"^start_at=42 is not a datetime"):
        IntervalTrigger(hours=1, start_at=42)  # type: ignore[arg-type]
    with pytest.raises(InvalidTriggerError, match=r"^jitter=-1 must be a non-negative"):
        CronTrigger(jitter=-1)


def test_unknown_alias_names_it_and_the_known_ones() -> None:
    message = (
        "unknown trigger alias 'weekly'; known trigger aliases: "
        "'and', 'cron', 'date', 'interval', 'or'"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        build_trigger("weekly", UTC)
    with pytest.raises(UnknownAliasError):
        trigger_from_dict({"type": "weekly"})


def test_unexpected_trigger_argument_is_named() -> None:
    with pytest.raises(TypeError, match=r"^unexpected argument 'hours' for the 'cron' trigger"):
        build_trigger("cron", UTC, hours=3)
    with pytest.raises(ValueError, match=r"^unexpected argument 'every' for the 'interval'"):
        trigger_from_dict({"type": "interval", "every": 3})
    with pytest.raises(TriggerArgumentError, match=r"^unexpected arguments hour with a"):
        build_trigger(CronTrigger(), UTC, hour=3)


def test_combining_triggers_need_trigger_parts() -> None:
    with pytest.raises(InvalidTriggerError, match=r"^triggers=\[\] must hold at least one"):
        AndTrigger([])
    with pytest.raises(InvalidTriggerError, match=r"^triggers contains 'cron', which is not"):
        AndTrigger(["cron"])  # type: ignore[list-item]
