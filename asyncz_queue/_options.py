"""Checks of option values that every layer shares (schedulers, executors, stores)."""

from __future__ import annotations

import math
from typing import Any

from asyncz_queue.exceptions import ConfigurationError

#: The longest span an option or a retry backoff may give, in seconds (ten years): a lease,
#: a retention or a backoff added to the current time is always a date Python can hold.
MAX_SECONDS = 10 * 365 * 24 * 3600.0


def check_seconds(name: str, value: Any, allow_none: bool = False, allow_zero: bool = False) -> Any:
    """`value` if it is a number of seconds above 0 (or at 0 with `allow_zero`, or None with
    `allow_none`) and at most `MAX_SECONDS`; else `ConfigurationError` (a `ValueError`)
    naming the option."""
    if value is None and allow_none:
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
        or value > MAX_SECONDS
    ):
        bound = ">= 0" if allow_zero else "> 0"
        also = " or None" if allow_none else ""
        raise ConfigurationError(
            f"option {name!r} must be a finite number of seconds {bound} and at most "
            f"{MAX_SECONDS:.0f} (ten years){also}, got {value!r}"
        )
    return value
