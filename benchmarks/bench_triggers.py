"""How many `get_next_trigger_time` calls per second cron triggers sustain, ours vs Asyncz's.

Run: `python benchmarks/bench_triggers.py [--seconds 1.5] [--timezone UTC]`.
Each measurement walks a chain of fire times (each call gets the previous result), restarting
the chain every `CHAIN` calls so that every run covers the same calendar span. Both libraries
are measured in the same process, one after the other, for the same wall-clock budget.
Needs the `bench` extra (`asyncz`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from asyncz.triggers import CronTrigger as AsynczCronTrigger

from asyncz_queue.triggers import CronTrigger

CHAIN = 500
START = (2024, 1, 1)


def calls_per_second(
    next_time: Callable[[tzinfo, datetime | None], datetime | None],
    timezone: tzinfo,
    budget: float,
) -> float:
    """Call `next_time(timezone, previous)` in chains of `CHAIN` for about `budget` seconds."""
    start = datetime(*START, tzinfo=timezone)
    calls = 0
    began = time.perf_counter()
    deadline = began + budget
    while time.perf_counter() < deadline:
        previous: datetime | None = start
        for _ in range(CHAIN):
            previous = next_time(timezone, previous)
        calls += CHAIN
    return calls / (time.perf_counter() - began)


def main() -> None:
    """Print calls/s for both triggers and both libraries, and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="budget per measurement")
    parser.add_argument("--timezone", default="UTC", help="IANA key used by every trigger")
    options = parser.parse_args()
    zone = ZoneInfo(options.timezone)
    cases = {
        "*/5 * * * *": (
            CronTrigger.from_crontab("*/5 * * * *", timezone=zone),
            AsynczCronTrigger.from_crontab("*/5 * * * *", timezone=zone),
        ),
        "09:00 on the last Friday of the month": (
            CronTrigger(day="last fri", hour=9, timezone=zone),
            AsynczCronTrigger(day="last fri", hour=9, timezone=zone),
        ),
    }
    print(f"timezone {options.timezone}, {options.seconds} s per measurement, chains of {CHAIN}")
    print(f"{'trigger':<40} {'asyncz_queue':>14} {'asyncz':>12} {'ratio':>7}")
    for name, (ours, theirs) in cases.items():
        first = datetime(*START, tzinfo=zone)
        assert ours.get_next_trigger_time(zone, first) == theirs.get_next_trigger_time(zone, first)
        our_rate = calls_per_second(ours.get_next_trigger_time, zone, options.seconds)
        their_rate = calls_per_second(theirs.get_next_trigger_time, zone, options.seconds)
        print(
            f"{name:<40} {our_rate:>12,.0f}/s {their_rate:>10,.0f}/s {our_rate / their_rate:>6.1f}x"
        )


if __name__ == "__main__":
    main()
