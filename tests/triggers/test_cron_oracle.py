"""Property test: `CronTrigger.from_crontab` agrees with croniter (an independent oracle)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from croniter import CroniterBadDateError, croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncz_queue.triggers import CronTrigger, preview_fire_times

_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_WEEKDAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@st.composite
def field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None) -> str:
    """One crontab field: `*`, `*/n`, `a`, `a-b`, `a-b/n` or a list of those."""

    def value(number: int) -> str:
        if names and draw(st.booleans()):
            return names[number - low] if number - low < len(names) else str(number)
        return str(number)

    def term() -> str:
        kind = draw(st.sampled_from(["*", "step", "value", "range", "range_step"]))
        if kind == "*":
            return "*"
        if kind == "step":
            return f"*/{draw(st.integers(1, high - low + 1))}"
        first = draw(st.integers(low, high))
        if kind == "value":
            return value(first)
        if first == high:
            return value(first)
        # croniter reads a one-value range such as "5-5" as "*", so ranges span two values+.
        last = draw(st.integers(first + 1, high))
        if kind == "range":
            return f"{value(first)}-{value(last)}"
        return f"{first}-{last}/{draw(st.integers(1, high - low + 1))}"

    terms = [term() for _ in range(draw(st.integers(1, 3)))]
    if "*" in terms:
        return "*"
    return ",".join(terms)


crontabs = st.builds(
    lambda minute, hour, day, month, weekday: f"{minute} {hour} {day} {month} {weekday}",
    field(0, 59),
    field(0, 23),
    st.one_of(st.just("*"), field(1, 31)),
    st.one_of(st.just("*"), field(1, 12, _MONTH_NAMES)),
    st.one_of(st.just("*"), field(0, 7, _WEEKDAY_NAMES)),
)
starts = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 12, 31), timezones=st.just(UTC)
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(expression=crontabs, start=starts)
def test_next_20_fire_times_match_croniter(expression: str, start: datetime) -> None:
    start = start.replace(microsecond=0)
    # croniter returns times strictly after `start`; preview_fire_times starts at or after now.
    ours = preview_fire_times(CronTrigger.from_crontab(expression), UTC, 20, now=start)
    oracle = croniter(expression, start, day_or=False)
    expected: list[datetime] = []
    try:
        for _ in range(20):
            expected.append(oracle.get_next(datetime))
    except CroniterBadDateError:
        pass
    if ours and ours[0] == start:
        expected.insert(0, start)
        expected = expected[:20]
    assert ours == expected[: len(ours)]
    assert len(ours) == len(expected) or not ours


@pytest.mark.parametrize(
    ("expression", "start"),
    [
        ("0 0 29 2 *", datetime(2023, 3, 1, tzinfo=UTC)),
        ("*/7 3-5 1-7 * mon", datetime(2024, 12, 30, tzinfo=UTC)),
        ("15 10 * 2,jun 0", datetime(2031, 5, 5, 5, 5, 5, tzinfo=UTC)),
    ],
)
def test_examples_match_croniter(expression: str, start: datetime) -> None:
    oracle = croniter(expression, start, day_or=False)
    expected = [oracle.get_next(datetime) for _ in range(20)]
    assert preview_fire_times(CronTrigger.from_crontab(expression), UTC, 20, now=start) == expected
