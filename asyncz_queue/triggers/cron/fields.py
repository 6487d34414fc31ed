"""Parsing of cron field expressions into the sets of values they match.

Everything here runs once, at construction: the trigger keeps sorted tuples of values (and,
for the `day` field, a few rules such as `last fri`) so that finding the next fire time is a
handful of `bisect` calls.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date

from asyncz_queue.triggers.base import InvalidTriggerError

#: The fields of a `CronTrigger`, most significant first.
FIELD_NAMES: tuple[str, ...] = (
    "year",
    "month",
    "day",
    "week",
    "day_of_week",
    "hour",
    "minute",
    "second",
)

#: Smallest and largest value of each field.
BOUNDS: dict[str, tuple[int, int]] = {
    "year": (1970, 9999),
    "month": (1, 12),
    "day": (1, 31),
    "week": (1, 53),
    "day_of_week": (0, 6),
    "hour": (0, 23),
    "minute": (0, 59),
    "second": (0, 59),
}

#: The value of a field below the least significant given one (Asyncz semantics).
DEFAULTS: dict[str, str] = {
    "year": "*",
    "month": "1",
    "day": "1",
    "week": "*",
    "day_of_week": "*",
    "hour": "0",
    "minute": "0",
    "second": "0",
}

MONTH_NAMES: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
WEEKDAY_NAMES: dict[str, int] = {
    name: number for number, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
}
_FULL_WEEKDAYS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_NAMES: dict[str, dict[str, int]] = {"month": MONTH_NAMES, "day_of_week": WEEKDAY_NAMES}

_RANGE = re.compile(r"^(?P<first>[a-z0-9]+|\*)(?:-(?P<last>[a-z0-9]+))?(?:/(?P<step>\d+))?$")
_NTH = re.compile(r"^(?P<nth>1st|2nd|3rd|4th|5th|last)\s+(?P<weekday>[a-z]+)$")


class CronFieldError(InvalidTriggerError):
    """A cron field expression is invalid; the message names the field and the expression."""

    def __init__(self, field: str, expression: str, reason: str) -> None:
        self.field = field
        self.expression = expression
        super().__init__(f"{field}={expression!r} is invalid: {reason}")


@dataclass(frozen=True, slots=True)
class DayRules:
    """What the `day` field matches: plain day numbers plus `last` / `last fri` / `1st mon`.

    `nth` holds `(n, weekday)` pairs, with `n = -1` for "last".
    """

    numbers: frozenset[int]
    last: bool
    nth: tuple[tuple[int, int], ...]

    def days(self, year: int, month: int) -> set[int]:
        """Return the day numbers of `year-month` that this field matches."""
        first_weekday, length = monthrange(year, month)
        days = {day for day in self.numbers if day <= length}
        if self.last:
            days.add(length)
        for n, weekday in self.nth:
            if n < 0:
                last_weekday = (first_weekday + length - 1) % 7
                days.add(length - (last_weekday - weekday) % 7)
            else:
                day = 1 + (weekday - first_weekday) % 7 + 7 * (n - 1)
                if day <= length:
                    days.add(day)
        return days


def parse_values(field: str, expression: str) -> frozenset[int]:
    """Return the values of `field` matched by `expression` (`*`, `*/n`, `a-b/n`, lists, names).

    Raises `CronFieldError` naming the field and the expression.
    """
    low, high = BOUNDS[field]
    names = _NAMES.get(field, {})
    values: set[int] = set()
    for term in _terms(field, expression):
        match = _RANGE.match(term)
        if match is None:
            raise CronFieldError(field, expression, f"{term!r} is not a valid expression")
        values.update(_expand(field, expression, match, low, high, names))
    return frozenset(values)


def parse_day(expression: str) -> DayRules:
    """Parse the `day` field: numbers and ranges plus `last`, `last fri`, `1st mon`...`5th sun`.

    Raises `CronFieldError` naming the expression.
    """
    numbers: set[int] = set()
    last = False
    nth: list[tuple[int, int]] = []
    for term in _terms("day", expression):
        if term == "last":
            last = True
            continue
        special = _NTH.match(term)
        if special is not None:
            name = special["weekday"]
            weekday = WEEKDAY_NAMES.get(name, _FULL_WEEKDAYS.get(name))
            if weekday is None:
                raise CronFieldError("day", expression, f"{name!r} is not a weekday name")
            n = -1 if special["nth"] == "last" else int(special["nth"][0])
            nth.append((n, weekday))
            continue
        numbers.update(parse_values("day", term))
    return DayRules(frozenset(numbers), last, tuple(sorted(set(nth))))


def _terms(field: str, expression: str) -> list[str]:
    terms = [" ".join(term.split()).lower() for term in expression.split(",")]
    if not all(terms):
        raise CronFieldError(field, expression, "empty expression")
    return terms


def _expand(
    field: str,
    expression: str,
    match: re.Match[str],
    low: int,
    high: int,
    names: dict[str, int],
) -> range:
    first, last, step_text = match["first"], match["last"], match["step"]
    step = 1 if step_text is None else int(step_text)
    if step < 1:
        raise CronFieldError(field, expression, f"the step must be at least 1, got {step}")
    if first == "*":
        if last is not None:
            raise CronFieldError(field, expression, "'*' cannot start a range")
        return range(low, high + 1, step)
    start = _value(field, expression, first, low, high, names)
    if last is not None:
        end = _value(field, expression, last, low, high, names)
    else:
        end = high if step_text is not None else start
    if end < start:
        raise CronFieldError(field, expression, f"the range {start}-{end} is reversed")
    return range(start, end + 1, step)


def _value(
    field: str, expression: str, text: str, low: int, high: int, names: dict[str, int]
) -> int:
    if text.isdigit():
        value = int(text)
    elif text in names:
        return names[text]
    else:
        kind = {"month": "a month name or number", "day_of_week": "a weekday name or number"}
        raise CronFieldError(field, expression, f"{text!r} is not {kind.get(field, 'a number')}")
    if not low <= value <= high:
        raise CronFieldError(field, expression, f"{value} is outside {low}-{high}")
    return value


def iso_week(year: int, month: int, day: int) -> int:
    """Return the ISO 8601 week number of a date."""
    return date(year, month, day).isocalendar()[1]
