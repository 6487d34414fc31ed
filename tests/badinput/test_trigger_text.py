"""Arbitrary text in cron expressions, cron fields and time zones: only the documented
`ValueError` subclass (`InvalidTriggerError`) ever comes out, never a crash of another kind."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import ConfigurationError
from asyncz_queue.triggers import CronFieldError, CronTrigger, InvalidTriggerError, build_trigger

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
FIELDS = ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")

#: Text close to cron syntax (digits, ranges, steps, names) as well as anything at all.
CRON_ALPHABET = st.sampled_from(list("0123456789*/-,? LW#abcdefghijklmnopqrstuvwxyz\t\n"))
cron_like = st.text(CRON_ALPHABET, max_size=40)
anything = st.text(max_size=40)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fires_or_refuses(build) -> None:  # type: ignore[no-untyped-def]
    """Build a trigger; when built, asking for its next fire time must not raise either."""
    try:
        trigger = build()
    except InvalidTriggerError as exc:
        assert isinstance(exc, ValueError)
        assert str(exc)  # says what was wrong
        return
    trigger.get_next_trigger_time(UTC, None, NOW)


@SETTINGS
@given(st.one_of(cron_like, anything))
def test_arbitrary_crontab_text_builds_or_raises_invalid_trigger_error(text: str) -> None:
    _fires_or_refuses(lambda: CronTrigger.from_crontab(text, timezone="UTC"))


@SETTINGS
@given(st.sampled_from(FIELDS), st.one_of(cron_like, anything))
def test_arbitrary_cron_field_text_builds_or_raises_invalid_trigger_error(
    field: str, text: str
) -> None:
    _fires_or_refuses(lambda: CronTrigger(**{field: text}, timezone="UTC"))


@SETTINGS
@given(
    st.sampled_from(FIELDS),
    st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers())),
)
def test_non_text_cron_field_values_build_or_raise_invalid_trigger_error(
    field: str, value: object
) -> None:
    _fires_or_refuses(lambda: CronTrigger(**{field: value}, timezone="UTC"))


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("* * * *", None),  # four fields
        ("61 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* * 0 * *", "day"),
        ("* * * 13 *", "month"),
        ("* * * * 8", "day_of_week"),
        ("*/0 * * * *", "minute"),
        ("5-1/x * * * *", "minute"),
        ("1; DROP TABLE jobs; * * * *", None),
    ],
)
def test_malformed_crontab_raises_a_value_error_naming_the_problem(
    expression: str, field: str | None
) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        CronTrigger.from_crontab(expression)
    assert isinstance(caught.value, ValueError)
    if field is not None:
        assert field in str(caught.value)


def test_cron_field_error_names_field_and_value() -> None:
    with pytest.raises(CronFieldError, match=r"hour.*'25'|'25'.*hour"):
        CronTrigger(hour="25")


@pytest.mark.parametrize(
    "name",
    ["Mars/Olympus_Mons", "Europe/Atlantis", "", "../../../etc/passwd", "UTC\x00", "America",
     "Europe/", "/etc/localtime", "x" * 300,
     "+25:00", "+12:75", "++1:00", "+ 1:00",
     ],
)  # fmt: skip
def test_unknown_trigger_timezone_raises_invalid_trigger_error(name: str) -> None:
    for build in (
        lambda: CronTrigger(hour=1, timezone=name),
        lambda: build_trigger("interval", UTC, seconds=5, timezone=name),
        lambda: build_trigger("date", UTC, run_at=NOW, timezone=name),
    ):
        with pytest.raises(InvalidTriggerError, match="time zone"):
            build()


@pytest.mark.parametrize(
    "name",
    ["Mars/Olympus_Mons", "", "../../../etc/passwd", "UTC\x00",
     "America", "x" * 300],
)  # fmt: skip
def test_unknown_scheduler_timezone_raises_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="timezone"):
        AsyncIOScheduler(timezone=name)


@SETTINGS
@given(anything)
def test_arbitrary_timezone_text_is_a_zone_or_a_configuration_error(name: str) -> None:
    with contextlib.suppress(ConfigurationError):
        AsyncIOScheduler(timezone=name)
