"""`CronTrigger` (being written; this placeholder keeps the package importable)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any, ClassVar

from asyncz_queue.triggers.base import BaseTrigger


class CronTrigger(BaseTrigger):
    """Fires on calendar fields, like cron (not implemented yet)."""

    alias: ClassVar[str] = "cron"

    def __init__(self, **fields: Any) -> None:
        raise NotImplementedError("CronTrigger is not implemented yet")

    def get_next_trigger_time(
        self, timezone: tzinfo, previous_time: datetime | None, now: datetime | None = None
    ) -> datetime | None:
        """Not implemented yet."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Not implemented yet."""
        raise NotImplementedError

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CronTrigger:
        """Not implemented yet."""
        raise NotImplementedError
