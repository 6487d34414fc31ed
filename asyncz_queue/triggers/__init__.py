"""Triggers: when a task fires. Pure time maths, JSON-serialisable, no I/O.

Aliases: `date`, `interval`, `cron`, `and`, `or` (see `TRIGGER_ALIASES`).
"""

from __future__ import annotations

import functools
import inspect
from datetime import datetime, tzinfo
from typing import Any

from asyncz_queue.triggers.base import (
    TRIGGER_ALIASES,
    BaseTrigger,
    InvalidTriggerError,
    TriggerArgumentError,
    UnknownTriggerAliasError,
    trigger_class,
    trigger_from_dict,
)
from asyncz_queue.triggers.combining import AndTrigger, OrTrigger
from asyncz_queue.triggers.cron import CronFieldError, CronTrigger
from asyncz_queue.triggers.date import DateTrigger
from asyncz_queue.triggers.interval import IntervalTrigger

__all__ = [
    "TRIGGER_ALIASES",
    "AndTrigger",
    "BaseTrigger",
    "CronFieldError",
    "CronTrigger",
    "DateTrigger",
    "IntervalTrigger",
    "InvalidTriggerError",
    "OrTrigger",
    "TriggerArgumentError",
    "UnknownTriggerAliasError",
    "build_trigger",
    "preview_fire_times",
    "trigger_from_dict",
]


def build_trigger(
    trigger: BaseTrigger | str | None, timezone: tzinfo, /, **trigger_args: Any
) -> BaseTrigger:
    """Return a trigger from an instance, an alias plus its arguments, or None.

    - an instance is returned as is (no `trigger_args` allowed with it);
    - None means "run once now": a `DateTrigger` (built from `trigger_args` if any);
    - an alias (`"date"`, `"interval"`, `"cron"`, `"and"`, `"or"`) builds that class from
      `trigger_args`, with `timezone` (the scheduler's) as the default time zone; a
      `timezone` inside `trigger_args` wins (hence the positional-only parameters).

    Raises `UnknownTriggerAliasError` (a `ValueError`) naming an unknown alias and the known
    ones, and `TriggerArgumentError` (a `TypeError` and `ValueError`) naming an argument the
    trigger does not accept.
    """
    if isinstance(trigger, BaseTrigger):
        if trigger_args:
            names = ", ".join(sorted(trigger_args))
            raise TriggerArgumentError(
                f"unexpected arguments {names} with a {type(trigger).__name__} instance"
            )
        return trigger
    if trigger is None:
        trigger = "date"
    if not isinstance(trigger, str):
        raise InvalidTriggerError(f"trigger={trigger!r} is not a trigger, an alias or None")
    cls = trigger_class(trigger)
    accepted = _parameters(cls)
    for name in trigger_args:
        if name not in accepted:
            raise TriggerArgumentError(
                f"unexpected argument {name!r} for the {trigger!r} trigger; "
                f"it accepts: {', '.join(sorted(accepted))}"
            )
    if "timezone" in accepted and trigger_args.get("timezone") is None:
        trigger_args["timezone"] = timezone
    return cls(**trigger_args)


@functools.cache
def _parameters(cls: type[BaseTrigger]) -> frozenset[str]:
    signature = inspect.signature(cls.__init__)
    return frozenset(name for name in signature.parameters if name != "self")


def preview_fire_times(
    trigger: BaseTrigger, timezone: tzinfo, count: int, now: datetime | None = None
) -> list[datetime]:
    """Return the next `count` fire times of `trigger` from `now` (default: the current time).

    Pure apart from jitter: the first time is the first fire at or after `now`, each next one
    strictly after the previous. The list is shorter when the trigger finishes first.
    Raises `ValueError` for a negative `count`.
    """
    if count < 0:
        raise ValueError(f"count={count!r} must be 0 or more")
    times: list[datetime] = []
    previous: datetime | None = None
    while len(times) < count:
        previous = trigger.get_next_trigger_time(timezone, previous, now)
        if previous is None:
            break
        times.append(previous)
    return times
