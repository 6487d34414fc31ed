"""`AndTrigger` and `OrTrigger`: combine other triggers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, ClassVar

from asyncz_queue.triggers.base import (
    BaseTrigger,
    InvalidTriggerError,
    apply_jitter,
    check_jitter,
    instant,
    reject_unknown,
    trigger_from_dict,
)


class _CombiningTrigger(BaseTrigger):
    """Shared construction and serialisation of the combining triggers."""

    __slots__ = ("jitter", "triggers")

    _FIELDS: ClassVar[frozenset[str]] = frozenset({"triggers", "jitter"})

    def __init__(
        self,
        triggers: Iterable[BaseTrigger | Mapping[str, Any]],
        jitter: float | None = None,
    ) -> None:
        if isinstance(triggers, BaseTrigger | Mapping | str):
            raise InvalidTriggerError(f"triggers={triggers!r} must be a list of triggers")
        parts: list[BaseTrigger] = []
        for part in triggers:
            if isinstance(part, BaseTrigger):
                parts.append(part)
            elif isinstance(part, Mapping):
                parts.append(trigger_from_dict(part))
            else:
                raise InvalidTriggerError(f"triggers contains {part!r}, which is not a trigger")
        if not parts:
            raise InvalidTriggerError(f"triggers={parts!r} must hold at least one trigger")
        self.triggers: list[BaseTrigger] = parts
        self.jitter: float | None = check_jitter(jitter)

    def to_dict(self) -> dict[str, Any]:
        """Return `{"type": alias, "triggers": [part dicts], "jitter": seconds or None}`."""
        return {
            "type": self.alias,
            "triggers": [part.to_dict() for part in self.triggers],
            "jitter": self.jitter,
        }

    def __repr__(self) -> str:
        parts = ", ".join(repr(part) for part in self.triggers)
        jitter = f", jitter={self.jitter!r}" if self.jitter else ""
        return f"{type(self).__name__}([{parts}]{jitter})"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaseTrigger:
        """Rebuild the combining trigger and its parts from `to_dict()` output."""
        fields = {key: value for key, value in data.items() if key != "type"}
        reject_unknown(fields, cls._FIELDS, cls.alias)
        return cls(**fields)


class AndTrigger(_CombiningTrigger):
    """Fires at the times on which **all** of its triggers agree.

    The search alternates: every part proposes its next time, and the latest proposal becomes
    the new lower bound, until all parts propose the same instant. It gives up with None
    (finished) after `MAX_ITERATIONS` rounds, when any part is finished, or when a part
    cannot reach the bound (a `DateTrigger` in the past), so it never loops forever. Jitter of
    the parts makes coincidences unlikely: put `jitter` on the `AndTrigger` itself.
    """

    __slots__ = ()

    alias: ClassVar[str] = "and"
    MAX_ITERATIONS: ClassVar[int] = 1000

    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Return the first instant all parts fire at, or None after the bounded search."""
        if previous_time is None and now is None:
            now = datetime.now(UTC)
        proposed = [
            part.get_next_trigger_time(timezone, previous_time, now) for part in self.triggers
        ]
        for _ in range(self.MAX_ITERATIONS):
            times: list[datetime] = [time for time in proposed if time is not None]
            if len(times) < len(proposed):
                return None
            # Compared as instants (UTC): in a repeated hour, wall times of one zone mislead.
            instants = [instant(time) for time in times]
            bound = max(instants)
            if min(instants) == bound:
                return apply_jitter(times[0], self.jitter)
            proposed = [
                time if moment == bound else part.get_next_trigger_time(timezone, None, bound)
                for part, time, moment in zip(self.triggers, times, instants, strict=True)
            ]
            if any(time is not None and instant(time) < bound for time in proposed):
                return None
        return None


class OrTrigger(_CombiningTrigger):
    """Fires whenever **any** of its triggers fires (the earliest next time of the parts).

    Finished (None) once every part is finished. Two parts firing at the same instant give
    one fire time.
    """

    __slots__ = ()

    alias: ClassVar[str] = "or"

    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Return the earliest next time among the parts, or None when all are finished."""
        if previous_time is None and now is None:
            now = datetime.now(UTC)
        earliest: datetime | None = None
        for part in self.triggers:
            time = part.get_next_trigger_time(timezone, previous_time, now)
            if time is not None and (earliest is None or instant(time) < instant(earliest)):
                earliest = time
        if earliest is None:
            return None
        return apply_jitter(earliest, self.jitter)
