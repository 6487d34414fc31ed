"""The trigger contract: pure time maths that says when a task fires next.

A trigger is a small, plain object (no I/O, no locks). The scheduler calls
`get_next_trigger_time` on its hot path, so implementations keep that method cheap and
precompute whatever they can at construction. Every trigger serialises to a JSON-ready dict
(`to_dict`) and back (`trigger_from_dict`), which is how durable stores keep them.
"""

from __future__ import annotations

import json
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

from asyncz_queue.exceptions import AsynczQueueError, UnknownAliasError

#: Every trigger class with an alias, filled when a subclass is defined.
TRIGGER_ALIASES: dict[str, type[BaseTrigger]] = {}


class InvalidTriggerError(AsynczQueueError, ValueError):
    """A trigger argument has an invalid value; the message names the field and the value."""


class TriggerArgumentError(InvalidTriggerError, TypeError):
    """A trigger was given an argument it does not accept; the message names the argument."""


class UnknownTriggerAliasError(UnknownAliasError, ValueError):
    """No trigger class has this alias; the message lists the known aliases."""


class BaseTrigger(ABC):
    """Decides when a task fires; subclasses implement the three abstract methods.

    Contract of a trigger:

    - `get_next_trigger_time(timezone, previous_time, now)` is pure (apart from jitter) and
      fast. `timezone` is the scheduler's and applies only when the trigger has none of its
      own. With `previous_time=None` it returns the first fire time at or after `now`
      (default: the current time); otherwise the first fire time strictly after
      `previous_time`. `None` means the trigger will never fire again. Returned datetimes are
      timezone-aware.
    - `to_dict()` returns a JSON-serialisable dict with `"type": alias`; time zones appear
      by IANA key and datetimes as ISO 8601 strings. `from_dict()` is its exact inverse, and
      two triggers are equal when their dicts are.
    """

    __slots__ = ()

    alias: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        alias = cls.__dict__.get("alias")
        if isinstance(alias, str):
            TRIGGER_ALIASES[alias] = cls

    @abstractmethod
    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Return the next fire time (aware), or None when the trigger is finished.

        `timezone` is the scheduler's time zone, used when the trigger has none. With
        `previous_time=None` the result is the first fire time at or after `now` (default: the
        current time); otherwise it is the first fire time strictly after `previous_time`.
        """

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict of this trigger, with `"type"` set to its alias."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaseTrigger:
        """Rebuild a trigger from `to_dict()` output; the exact inverse of `to_dict`."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseTrigger) or type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        data = self.to_dict()
        data.pop("type", None)
        shown = ", ".join(f"{key}={value!r}" for key, value in data.items() if value is not None)
        return f"{type(self).__name__}({shown})"


def trigger_from_dict(data: Mapping[str, Any]) -> BaseTrigger:
    """Rebuild any trigger from its `to_dict()` form, dispatching on `data["type"]`.

    Raises `UnknownTriggerAliasError` (a `ValueError`) for an unknown type.
    """
    if not isinstance(data, Mapping) or "type" not in data:
        raise InvalidTriggerError(f"a trigger dict needs a 'type' key, got {data!r}")
    return trigger_class(data["type"]).from_dict(data)


def trigger_class(alias: str) -> type[BaseTrigger]:
    """Return the trigger class registered under `alias`.

    Raises `UnknownTriggerAliasError` naming the alias and the known ones.
    """
    try:
        return TRIGGER_ALIASES[alias]
    except (KeyError, TypeError):
        raise UnknownTriggerAliasError("trigger", str(alias), TRIGGER_ALIASES) from None


def check_jitter(jitter: float | None) -> float | None:
    """Validate a jitter value: None or a finite, non-negative number of seconds."""
    if jitter is None:
        return None
    if (
        isinstance(jitter, bool)
        or not isinstance(jitter, int | float)
        or not math.isfinite(jitter)
        or jitter < 0
    ):
        raise InvalidTriggerError(
            f"jitter={jitter!r} must be a non-negative, finite number of seconds"
        )
    return jitter or None


def apply_jitter(
    fire_time: datetime, jitter: float | None, end: datetime | None = None
) -> datetime:
    """Add a random delay in `[0, jitter]` seconds (non-deterministic by design), never past
    `end` (a trigger's `end_at`); none when the delay would reach past the last datetime."""
    if not jitter:
        return fire_time
    if end is not None:
        jitter = min(jitter, max((end - fire_time).total_seconds(), 0.0))
    try:
        return fire_time + timedelta(seconds=random.uniform(0, jitter))
    except OverflowError:
        return fire_time


def instant(moment: datetime) -> datetime:
    """`moment` in UTC, for comparing: two datetimes of one zone compare by wall time, their
    `fold` ignored, so within an hour repeated at a DST change the later instant can compare
    as the earlier (01:15 EST, the second pass, before 01:45 EDT)."""
    return moment.astimezone(UTC)


def reject_unknown(data: Mapping[str, Any], allowed: frozenset[str], alias: str) -> None:
    """Raise `TriggerArgumentError` naming the first key of `data` that is not in `allowed`."""
    for key in data:
        if key not in allowed:
            known = ", ".join(sorted(allowed))
            raise TriggerArgumentError(
                f"unexpected argument {key!r} for the {alias!r} trigger; it accepts: {known}"
            )
