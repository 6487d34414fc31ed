"""`IntervalTrigger`: fire every fixed amount of elapsed time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from asyncz_queue.triggers._tz import (
    format_datetime,
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
    reject_unknown,
)

_UNITS = ("weeks", "days", "hours", "minutes", "seconds")


class IntervalTrigger(BaseTrigger):
    """Fires at `start_at`, `start_at + interval`, `start_at + 2 * interval`, ...

    The interval is `weeks + days + hours + minutes + seconds` (fractions allowed, e.g.
    `seconds=0.2`) and counts **elapsed** time: the arithmetic is done in UTC, so one hour is
    always 3600 s, also across DST changes. It must be positive.

    `start_at` defaults to the construction time plus one interval (and is then fixed, also in
    `to_dict`). No fire time is later than `end_at`. Naive `start_at` / `end_at` are wall
    times in the trigger's `timezone`, or in the scheduler's one when the trigger has none.
    Returned datetimes are in the trigger's timezone (else the scheduler's). `jitter` adds a
    random delay in `[0, jitter]` seconds to each returned time, which makes the result
    non-deterministic; the schedule itself does not drift.

    Raises `InvalidTriggerError` (a `ValueError`) for a non-positive interval, `end_at` before
    `start_at`, a bad timezone or jitter.
    """

    __slots__ = (
        "_cache",
        "_interval",
        "days",
        "end_at",
        "hours",
        "jitter",
        "minutes",
        "seconds",
        "start_at",
        "timezone",
        "weeks",
    )

    alias: ClassVar[str] = "interval"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {*_UNITS, "start_at", "end_at", "timezone", "jitter"}
    )

    def __init__(
        self,
        weeks: float = 0,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
        start_at: datetime | str | None = None,
        end_at: datetime | str | None = None,
        timezone: str | tzinfo | None = None,
        jitter: float | None = None,
    ) -> None:
        for unit, value in zip(_UNITS, (weeks, days, hours, minutes, seconds), strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidTriggerError(f"{unit}={value!r} is not a number")
        self.weeks, self.days, self.hours = weeks, days, hours
        self.minutes, self.seconds = minutes, seconds
        units = (weeks, days, hours, minutes, seconds)
        given = ", ".join(
            f"{unit}={value!r}" for unit, value in zip(_UNITS, units, strict=True) if value
        )
        try:
            interval = timedelta(
                weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds
            )
        except (OverflowError, ValueError):  # past timedelta's range, or NaN
            raise InvalidTriggerError(
                f"the interval ({given}) is not a length of time Python can hold"
            ) from None
        if interval <= timedelta(0):
            raise InvalidTriggerError(
                f"the interval must be positive, got {interval.total_seconds()!r} s"
                f" ({given or 'all units 0'})"
            )
        self._interval = interval
        self.timezone: tzinfo | None = resolve_timezone(timezone)
        self.jitter: float | None = check_jitter(jitter)
        start = parse_datetime(start_at, "start_at")
        if start is None:
            try:
                start = datetime.now(self.timezone or UTC) + interval
            except OverflowError:
                raise InvalidTriggerError(
                    f"the interval ({given}) first fires past the last date, 9999-12-31"
                ) from None
        self.start_at: datetime = self._normalise(start)
        end = parse_datetime(end_at, "end_at")
        self.end_at: datetime | None = None if end is None else self._normalise(end)
        # (scheduler timezone, start in UTC, end in UTC) for the last timezone seen.
        self._cache: tuple[tzinfo | None, datetime, datetime | None] | None = None
        self._check_order()

    def _normalise(self, value: datetime) -> datetime:
        if self.timezone is None:
            return value
        return to_aware(value, self.timezone).astimezone(self.timezone)

    def _check_order(self) -> None:
        end = self.end_at
        if end is None:
            return
        tz = self.timezone or UTC
        if to_aware(end, tz) < to_aware(self.start_at, tz):
            raise InvalidTriggerError(
                f"end_at={end.isoformat()!r} is before start_at={self.start_at.isoformat()!r}"
            )

    def _bounds(self, timezone: tzinfo) -> tuple[datetime, datetime | None]:
        cache = self._cache
        if cache is not None and (self.timezone is not None or cache[0] is timezone):
            return cache[1], cache[2]
        tz = self.timezone or timezone
        start = to_aware(self.start_at, tz).astimezone(UTC)
        end = None if self.end_at is None else to_aware(self.end_at, tz).astimezone(UTC)
        self._cache = (timezone, start, end)
        return start, end

    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Return the next `start_at + k * interval`, or None past `end_at`."""
        start, end = self._bounds(timezone)
        interval = self._interval
        if previous_time is None:
            if now is None:
                now = datetime.now(UTC)
            elapsed = to_aware(now, self.timezone or timezone) - start
            steps = -(-elapsed // interval) if elapsed > timedelta(0) else 0
        else:
            elapsed = previous_time - start
            steps = elapsed // interval + 1 if elapsed >= timedelta(0) else 0
        try:
            fire_time = start + interval * steps
            if end is not None and fire_time > end:
                return None
            fire_time = fire_time.astimezone(self.timezone or timezone)
        except OverflowError:
            return None  # past the last date (9999-12-31): the trigger is done
        if self.jitter:
            return apply_jitter(fire_time, self.jitter, end)
        return fire_time

    def to_dict(self) -> dict[str, Any]:
        """Return the units, ISO `start_at` / `end_at`, timezone key and jitter."""
        return {
            "type": self.alias,
            "weeks": self.weeks,
            "days": self.days,
            "hours": self.hours,
            "minutes": self.minutes,
            "seconds": self.seconds,
            "start_at": format_datetime(self.start_at),
            "end_at": format_datetime(self.end_at),
            "timezone": timezone_key(self.timezone),
            "jitter": self.jitter,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntervalTrigger:
        """Rebuild an `IntervalTrigger` from `to_dict()` output."""
        fields = {key: value for key, value in data.items() if key != "type"}
        reject_unknown(fields, cls._FIELDS, cls.alias)
        return cls(**fields)

    def __repr__(self) -> str:
        data = self.to_dict()
        shown = [f"{unit}={data[unit]!r}" for unit in _UNITS if data[unit]]
        shown += [
            f"{key}={data[key]!r}"
            for key in ("start_at", "end_at", "timezone", "jitter")
            if data[key] is not None
        ]
        return f"IntervalTrigger({', '.join(shown)})"

    @property
    def interval(self) -> timedelta:
        """The interval between two fire times."""
        return self._interval
