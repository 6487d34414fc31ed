"""Time zone helpers shared by the triggers: parsing, serialising and DST-aware localising."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from asyncz_queue.triggers.base import InvalidTriggerError


def resolve_timezone(value: str | tzinfo | None, field: str = "timezone") -> tzinfo | None:
    """Return `value` as a tzinfo: an IANA key becomes a `ZoneInfo`, a tzinfo is kept.

    Raises `InvalidTriggerError` naming the value when the key is unknown or the type is wrong.
    """
    if value is None or isinstance(value, tzinfo):
        return value
    if not isinstance(value, str):
        raise InvalidTriggerError(
            f"{field}={value!r} is not a time zone (expected an IANA key or a tzinfo)"
        )
    if value.upper() == "UTC":
        return UTC
    offset = _parse_offset(value)
    if offset is not None:
        return offset
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTriggerError(f"{field}={value!r} is not a known time zone") from None


def _parse_offset(value: str) -> tzinfo | None:
    """Parse a fixed offset written as `+HH:MM` / `-HH:MM` (how fixed offsets are serialised)."""
    if len(value) != 6 or value[0] not in "+-" or value[3] != ":":
        return None
    digits = value[1:3] + value[4:6]
    if not (digits.isascii() and digits.isdigit()):
        return None
    hours, minutes = int(value[1:3]), int(value[4:6])
    if hours > 23 or minutes > 59:
        return None  # reported by the caller as an unknown time zone
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if value[0] == "-" else delta)


def timezone_key(tz: tzinfo | None) -> str | None:
    """Return the serialisable name of `tz`: its IANA key, `"UTC"`, or `+HH:MM` for a fixed offset.

    Raises `InvalidTriggerError` for a tzinfo that has no stable name.
    """
    if tz is None:
        return None
    key = getattr(tz, "key", None) or getattr(tz, "zone", None)
    if isinstance(key, str):
        return key
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        if not offset:
            return "UTC"
        sign = "-" if offset < timedelta(0) else "+"
        minutes = abs(offset) // timedelta(minutes=1)
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    raise InvalidTriggerError(f"timezone={tz!r} has no IANA key and cannot be serialised")


def is_fixed(tz: tzinfo) -> bool:
    """True when `tz` never changes its offset (no DST handling needed)."""
    return isinstance(tz, timezone) or getattr(tz, "key", None) in ("UTC", "Etc/UTC")


def localize(wall: datetime, tz: tzinfo) -> datetime:
    """Attach `tz` to the naive wall time `wall` following the DST rules of the triggers.

    A wall time inside a spring-forward gap becomes the first instant after the gap (the
    transition itself); a wall time that occurs twice becomes its first occurrence (fold=0).
    """
    aware = wall.replace(tzinfo=tz, fold=0)
    if is_fixed(tz):
        return aware
    before = aware.utcoffset()
    after = aware.replace(fold=1).utcoffset()
    if before is None or after is None or before >= after:
        # Unique wall time, or ambiguous (fold=0 is then the first occurrence).
        return aware
    return gap_end(aware, before, after, tz)


def gap_end(aware: datetime, before: timedelta, after: timedelta, tz: tzinfo) -> datetime:
    """Return the transition instant that opens the gap containing `aware`'s wall time."""
    wall = aware.replace(tzinfo=UTC)
    # In UTC the transition lies between the wall time read with the new offset (still before
    # it) and with the old one (already after it); transitions fall on whole seconds.
    low = int((wall - after).timestamp() // 1)
    high = -int(-(wall - before).timestamp() // 1)
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, tz)


def overlap_end(local: datetime) -> datetime:
    """Return the naive wall time at which the repeated hour containing `local` ends.

    `local` is an aware datetime in its zone with `fold=1` (the second pass of a wall time that
    occurs twice); the result is the first wall time after the repetition.
    """
    tz = local.tzinfo
    first_offset = local.replace(fold=0).utcoffset()
    second_offset = local.utcoffset()
    if tz is None or first_offset is None or second_offset is None:
        return local.replace(tzinfo=None, fold=0)
    moment = int(local.timestamp() // 1)
    low = moment - int((first_offset - second_offset).total_seconds()) - 1  # before the change
    high = moment  # after the change
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, tz).fold:
            high = middle
        else:
            low = middle
    transition = datetime.fromtimestamp(high, UTC).replace(tzinfo=None)
    return transition + first_offset


def to_aware(value: datetime, tz: tzinfo) -> datetime:
    """Return `value` as an aware datetime: naive values are wall times in `tz`."""
    if value.tzinfo is None:
        return localize(value, tz)
    return value


def parse_datetime(value: datetime | str | None, field: str) -> datetime | None:
    """Accept a datetime or an ISO 8601 string (how triggers serialise datetimes)."""
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidTriggerError(f"{field}={value!r} is not a datetime or an ISO 8601 string")


def format_datetime(value: datetime | None) -> str | None:
    """Serialise a datetime as an ISO 8601 string (with its offset when aware)."""
    return None if value is None else value.isoformat()
