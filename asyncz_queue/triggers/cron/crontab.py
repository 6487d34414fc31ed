"""Translation of a five-field crontab line into `CronTrigger` fields."""

from __future__ import annotations

import re

from asyncz_queue.triggers.base import InvalidTriggerError
from asyncz_queue.triggers.cron.fields import CronFieldError

#: The `@` shortcuts of crontab.
SHORTCUTS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Crontab numbers weekdays from Sunday (0 and 7); CronTrigger from Monday (0).
_CRONTAB_WEEKDAYS: dict[str, int] = {
    name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))
}
_OUR_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TERM = re.compile(r"^(?P<first>[a-z0-9]+|\*)(?:-(?P<last>[a-z0-9]+))?(?:/(?P<step>\d+))?$")


def crontab_fields(expression: str) -> dict[str, str]:
    """Return the `CronTrigger` fields of a crontab line (`minute hour day month weekday`).

    Accepts the `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly` shortcuts. Weekdays
    follow crontab (0 and 7 = Sunday). Raises `InvalidTriggerError` for a line without
    exactly five fields and `CronFieldError` naming a bad weekday term.
    """
    if not isinstance(expression, str):
        raise InvalidTriggerError(f"crontab expression {expression!r} is not a string")
    line = expression.strip()
    if line.startswith("@"):
        if line.lower() not in SHORTCUTS:
            known = ", ".join(SHORTCUTS)
            raise InvalidTriggerError(
                f"crontab expression {expression!r} is not a known shortcut ({known})"
            )
        line = SHORTCUTS[line.lower()]
    parts = line.split()
    if len(parts) != 5:
        raise InvalidTriggerError(
            f"crontab expression {expression!r} has {len(parts)} fields; expected 5"
            " (minute hour day month day_of_week)"
        )
    minute, hour, day, month, weekday = parts
    if day.lower() == "l":
        day = "last"
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": _weekdays(weekday),
    }


def _weekdays(expression: str) -> str:
    """Translate a crontab weekday field into `day_of_week` names (Monday first)."""
    days: set[int] = set()
    for term in expression.lower().split(","):
        match = _TERM.match(term.strip())
        if match is None:
            raise CronFieldError("day_of_week", expression, f"{term!r} is not a valid expression")
        first, last, step_text = match["first"], match["last"], match["step"]
        step = 1 if step_text is None else int(step_text)
        if step < 1:
            raise CronFieldError(
                "day_of_week", expression, f"the step must be at least 1, got {step}"
            )
        if first == "*":
            if last is not None:
                raise CronFieldError("day_of_week", expression, "'*' cannot start a range")
            start, end = 0, 6
        else:
            start = _number(expression, first)
            end = _number(expression, last) if last is not None else start
            if last is None and step_text is not None:
                end = 6
            if end < start:
                raise CronFieldError(
                    "day_of_week", expression, f"the range {start}-{end} is reversed"
                )
        days.update(range(start, end + 1, step))
    ours = sorted({(day + 6) % 7 for day in days})
    if len(ours) == 7:
        return "*"
    return ",".join(_OUR_NAMES[day] for day in ours)


def _number(expression: str, text: str) -> int:
    if text in _CRONTAB_WEEKDAYS:
        return _CRONTAB_WEEKDAYS[text]
    if not text.isdigit():
        raise CronFieldError("day_of_week", expression, f"{text!r} is not a weekday name or number")
    value = int(text)
    if value > 7:
        raise CronFieldError("day_of_week", expression, f"{value} is outside 0-7")
    return value
