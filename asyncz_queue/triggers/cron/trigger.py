"""`CronTrigger`: fire on calendar fields, read as wall-clock time in a time zone."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from asyncz_queue.triggers._tz import (
    format_datetime,
    gap_end,
    is_fixed,
    overlap_end,
    parse_datetime,
    resolve_timezone,
    timezone_key,
    to_aware,
)
from asyncz_queue.triggers.base import (
    BaseTrigger,
    InvalidTriggerError,
    apply_jitter,
    check_jitter,
    instant,
    reject_unknown,
)
from asyncz_queue.triggers.cron.crontab import crontab_fields
from asyncz_queue.triggers.cron.fields import (
    BOUNDS,
    DEFAULTS,
    FIELD_NAMES,
    iso_week,
    parse_day,
    parse_values,
)

_MICROSECOND = timedelta(microseconds=1)
#: The Gregorian calendar (weekdays, ISO weeks, leap years) repeats every 400 years.
_CYCLE_YEARS = 400
_DAY_CACHE_SIZE = 2048


class CronTrigger(BaseTrigger):
    """Fires when the wall-clock time in its timezone matches every field, like cron.

    Fields: `year`, `month`, `day`, `week` (ISO week), `day_of_week` (0 = Monday ... 6 =
    Sunday, or `mon`...`sun`), `hour`, `minute`, `second`. Each is an int or an expression:
    `*`, `*/n`, `a`, `a-b`, `a-b/n`, `a/n`, comma lists, month and weekday names; `day` also
    takes `last`, `last fri` and `1st mon` ... `5th sun`. Fields after the least significant
    given one default to their minimum, the others to `*` (as Asyncz): `CronTrigger(hour=3)`
    fires daily at 03:00:00. When both `day` and `day_of_week` are given, both must match.

    Time zone: `timezone` (IANA key or tzinfo), else the scheduler's. A wall time inside a
    spring-forward gap fires once, at the first instant after the gap; a wall time that occurs
    twice fires once, at its first occurrence. No fire time is before `start_at` or after
    `end_at` (naive values are wall times in the trigger's timezone). `jitter` adds a random
    delay in `[0, jitter]` seconds to each returned time (non-deterministic by design; a jitter
    longer than the gap between two fire times skips fire times).

    Raises `CronFieldError` / `InvalidTriggerError` (both `ValueError`) naming the field and
    the value for bad input.
    """

    __slots__ = (
        "_bounds_cache",
        "_day_cache",
        "_day_rules",
        "_hours",
        "_minutes",
        "_months",
        "_seconds",
        "_weekdays",
        "_weeks",
        "_years",
        "end_at",
        "fields",
        "jitter",
        "start_at",
        "timezone",
    )

    alias: ClassVar[str] = "cron"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {*FIELD_NAMES, "start_at", "end_at", "timezone", "jitter"}
    )

    def __init__(
        self,
        year: int | str | None = None,
        month: int | str | None = None,
        day: int | str | None = None,
        week: int | str | None = None,
        day_of_week: int | str | None = None,
        hour: int | str | None = None,
        minute: int | str | None = None,
        second: int | str | None = None,
        start_at: datetime | str | None = None,
        end_at: datetime | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        given = dict(
            zip(
                FIELD_NAMES,
                (year, month, day, week, day_of_week, hour, minute, second),
                strict=True,
            )
        )
        self.fields: dict[str, str] = _with_defaults(given)
        self._years: tuple[int, ...] | None = (
            None
            if self.fields["year"] == "*"
            else tuple(sorted(parse_values("year", self.fields["year"])))
        )
        self._months = _sorted("month", self.fields["month"])
        self._day_rules = parse_day(self.fields["day"])
        self._weeks = _subset("week", self.fields["week"])
        self._weekdays = _subset("day_of_week", self.fields["day_of_week"])
        self._hours = _sorted("hour", self.fields["hour"])
        self._minutes = _sorted("minute", self.fields["minute"])
        self._seconds = _sorted("second", self.fields["second"])
        self._day_cache: dict[tuple[int, int], tuple[int, ...]] = {}
        self.timezone: tzinfo | None = resolve_timezone(timezone)
        self.jitter: float | None = check_jitter(jitter)
        self.start_at: datetime | None = self._normalise(parse_datetime(start_at, "start_at"))
        self.end_at: datetime | None = self._normalise(parse_datetime(end_at, "end_at"))
        self._bounds_cache: tuple[tzinfo | None, datetime | None, datetime | None] | None = None
        if self.start_at is not None and self.end_at is not None:
            start, end = self._bounds(self.timezone or UTC)
            if end is not None and start is not None and end < start:
                raise InvalidTriggerError(
                    f"end_at={self.end_at.isoformat()!r} is before"
                    f" start_at={self.start_at.isoformat()!r}"
                )
            self._bounds_cache = None

    @classmethod
    def from_crontab(cls, expr: str, timezone: str | tzinfo | None = None) -> CronTrigger:
        """Build a trigger from a five-field crontab line: `minute hour day month weekday`.

        Weekdays follow crontab numbering (0 and 7 = Sunday, or names); `@hourly`, `@daily`,
        `@weekly`, `@monthly` and `@yearly` are accepted. Unlike crontab, a line restricting
        both day and weekday fires when **both** match. Raises `InvalidTriggerError` for a line
        without exactly five fields and `CronFieldError` for a bad field.
        """
        return cls(**crontab_fields(expr), timezone=timezone)

    def _normalise(self, value: datetime | None) -> datetime | None:
        if value is None or self.timezone is None:
            return value
        return to_aware(value, self.timezone).astimezone(self.timezone)

    def _bounds(self, timezone: tzinfo) -> tuple[datetime | None, datetime | None]:
        """Return `start_at` and `end_at` as aware UTC datetimes (cached per timezone)."""
        cache = self._bounds_cache
        if cache is not None and (self.timezone is not None or cache[0] is timezone):
            return cache[1], cache[2]
        tz = self.timezone or timezone
        start = None if self.start_at is None else to_aware(self.start_at, tz).astimezone(UTC)
        end = None if self.end_at is None else to_aware(self.end_at, tz).astimezone(UTC)
        self._bounds_cache = (timezone, start, end)
        return start, end

    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Return the first matching instant after `previous_time` (or at/after `now`)."""
        tz = self.timezone or timezone
        if previous_time is None:
            # In UTC: subtracting from a local time would drop its `fold` and move it from
            # the second pass of a repeated hour back into the first.
            after = instant(to_aware(now, tz) if now is not None else datetime.now(UTC))
            after -= _MICROSECOND
        else:
            after = previous_time
        if self.start_at is not None or self.end_at is not None:
            start, end = self._bounds(timezone)
            if start is not None and after < start:
                after = start - _MICROSECOND
        else:
            end = None
        fire_time = self._next_after(to_aware(after, tz), tz)
        if fire_time is None or (end is not None and fire_time > end):
            return None
        if self.jitter:
            return apply_jitter(fire_time, self.jitter, end)
        return fire_time

    def _next_after(self, after: datetime, tz: tzinfo) -> datetime | None:
        """Return the first instant strictly after `after` whose wall time matches."""
        local = after.astimezone(tz)
        fixed = is_fixed(tz)
        if not fixed and local.fold:
            # The second pass of a repeated hour: every wall time left in it already fired in
            # the first pass, so continue from the wall time that follows the repetition.
            end = overlap_end(local)
            wall = self._next_wall(end.year, end.month, end.day, end.hour, end.minute, end.second)
        else:
            wall = self._next_wall(
                local.year, local.month, local.day, local.hour, local.minute, local.second + 1
            )
        if wall is None:
            return None
        fire_time = datetime(*wall, tzinfo=tz)
        if fixed:
            return fire_time
        before = fire_time.utcoffset()
        later = fire_time.replace(fold=1).utcoffset()
        if before is None or later is None or before >= later:
            return fire_time  # unique, or the first occurrence of a repeated wall time
        return gap_end(fire_time, before, later, tz)

    def _next_wall(
        self, year: int, month: int, day: int, hour: int, minute: int, second: int
    ) -> tuple[int, int, int, int, int, int] | None:
        """Return the first matching wall time at or after the given one (fields may overflow
        by one: an overflowing field carries into the next more significant one)."""
        years, months = self._years, self._months
        hours, minutes, seconds = self._hours, self._minutes, self._seconds
        last_year = min(year + _CYCLE_YEARS, BOUNDS["year"][1]) if years is None else years[-1]
        while True:
            if years is not None:
                index = bisect_left(years, year)
                if index == len(years):
                    return None
                if years[index] != year:
                    year, month, day, hour, minute, second = years[index], 1, 1, 0, 0, 0
            elif year > last_year:
                return None
            index = bisect_left(months, month)
            if index == len(months):
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if months[index] != month:
                month, day, hour, minute, second = months[index], 1, 0, 0, 0
            days = self._day_cache.get((year, month)) or self._days(year, month)
            index = bisect_left(days, day)
            if index == len(days):
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if days[index] != day:
                day, hour, minute, second = days[index], 0, 0, 0
            index = bisect_left(hours, hour)
            if index == len(hours):
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if hours[index] != hour:
                hour, minute, second = hours[index], 0, 0
            index = bisect_left(minutes, minute)
            if index == len(minutes):
                hour, minute, second = hour + 1, 0, 0
                continue
            if minutes[index] != minute:
                minute, second = minutes[index], 0
            index = bisect_left(seconds, second)
            if index == len(seconds):
                minute, second = minute + 1, 0
                continue
            return year, month, day, hour, minute, seconds[index]

    def _days(self, year: int, month: int) -> tuple[int, ...]:
        """Return (and cache) the matching days of a month; `()` when none match."""
        if year > BOUNDS["year"][1]:
            return ()
        days = self._day_rules.days(year, month)
        if self._weekdays is not None:
            offset = datetime(year, month, 1).weekday() - 1
            days = {day for day in days if (offset + day) % 7 in self._weekdays}
        if self._weeks is not None:
            days = {day for day in days if iso_week(year, month, day) in self._weeks}
        result = tuple(sorted(days))
        if len(self._day_cache) >= _DAY_CACHE_SIZE:
            self._day_cache.clear()
        self._day_cache[(year, month)] = result
        return result

    def to_dict(self) -> dict[str, Any]:
        """Return every field expression, ISO `start_at` / `end_at`, timezone key and jitter."""
        return {
            "type": self.alias,
            **self.fields,
            "start_at": format_datetime(self.start_at),
            "end_at": format_datetime(self.end_at),
            "timezone": timezone_key(self.timezone),
            "jitter": self.jitter,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CronTrigger:
        """Rebuild a `CronTrigger` from `to_dict()` output."""
        fields = {key: value for key, value in data.items() if key != "type"}
        reject_unknown(fields, cls._FIELDS, cls.alias)
        return cls(**fields)

    def __repr__(self) -> str:
        shown = [f"{name}={value!r}" for name, value in self.fields.items() if value != "*"]
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None:
                shown.append(f"{name}={value.isoformat()!r}")
        if self.timezone is not None:
            shown.append(f"timezone={timezone_key(self.timezone)!r}")
        if self.jitter:
            shown.append(f"jitter={self.jitter!r}")
        return f"CronTrigger({', '.join(shown)})"


def _with_defaults(given: dict[str, int | str | None]) -> dict[str, str]:
    """Fill the fields that were not given: `*` above the least significant given field,
    the field's minimum below it (Asyncz semantics)."""
    last_given = max(
        (index for index, name in enumerate(FIELD_NAMES) if given[name] is not None), default=-1
    )
    fields: dict[str, str] = {}
    for index, name in enumerate(FIELD_NAMES):
        value = given[name]
        if value is None:
            fields[name] = DEFAULTS[name] if 0 <= last_given < index else "*"
        elif isinstance(value, bool) or not isinstance(value, int | str):
            raise InvalidTriggerError(f"{name}={value!r} must be an int or a string expression")
        else:
            fields[name] = " ".join(str(value).split())
    return fields


def _sorted(field: str, expression: str) -> tuple[int, ...]:
    return tuple(sorted(parse_values(field, expression)))


def _subset(field: str, expression: str) -> frozenset[int] | None:
    """Return the matched values, or None when the field matches everything."""
    values = parse_values(field, expression)
    low, high = BOUNDS[field]
    return None if len(values) == high - low + 1 else values
