"""`DateTrigger`: fire once, at one moment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from asyncz_queue.triggers._tz import (
    format_datetime,
    parse_datetime,
    resolve_timezone,
    timezone_key,
    to_aware,
)
from asyncz_queue.triggers.base import BaseTrigger, instant, reject_unknown


class DateTrigger(BaseTrigger):
    """Fires exactly once, at `run_at`.

    `run_at` is a datetime or an ISO 8601 string; None means "now" (taken at construction).
    A naive `run_at` is a wall time in the trigger's `timezone` (str IANA key or tzinfo); when
    the trigger has no timezone it is read in the scheduler's timezone at call time, so the
    trigger itself stays naive. A wall time inside a spring-forward gap fires at the first
    instant after the gap; a wall time that occurs twice fires at its first occurrence.
    An aware `run_at` is an instant and is used as is (converted to `timezone` if given).

    `get_next_trigger_time` returns `run_at` when `previous_time` is None (even if `now` is
    later: the scheduler's misfire grace decides whether a late run still happens) or before
    `run_at`, and None once `previous_time` has reached it.

    Raises `InvalidTriggerError` (a `ValueError`) for a bad `run_at` or timezone.
    """

    __slots__ = ("_aware", "run_at", "timezone")

    alias: ClassVar[str] = "date"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"run_at", "timezone"})

    def __init__(
        self, run_at: datetime | str | None = None, timezone: str | tzinfo | None = None
    ) -> None:
        self.timezone: tzinfo | None = resolve_timezone(timezone)
        moment = parse_datetime(run_at, "run_at")
        if moment is None:
            moment = datetime.now(self.timezone or UTC)
        elif self.timezone is not None:
            moment = to_aware(moment, self.timezone).astimezone(self.timezone)
        self.run_at: datetime = moment
        # The resolved instant, when it does not depend on the scheduler's timezone.
        self._aware: datetime | None = moment if moment.tzinfo is not None else None

    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Return `run_at` (aware) unless `previous_time` is at or after it (then None)."""
        run_at = self._aware if self._aware is not None else to_aware(self.run_at, timezone)
        if previous_time is not None and instant(previous_time) >= instant(run_at):
            return None
        return run_at

    def to_dict(self) -> dict[str, Any]:
        """Return `{"type": "date", "run_at": ISO string, "timezone": IANA key or None}`."""
        return {
            "type": self.alias,
            "run_at": format_datetime(self.run_at),
            "timezone": timezone_key(self.timezone),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DateTrigger:
        """Rebuild a `DateTrigger` from `to_dict()` output."""
        fields = {key: value for key, value in data.items() if key != "type"}
        reject_unknown(fields, cls._FIELDS, cls.alias)
        return cls(**fields)
