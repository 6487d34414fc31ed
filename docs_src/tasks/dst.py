"""Time zones and daylight saving time: wall-clock triggers versus elapsed-time triggers."""

from datetime import UTC, datetime

from asyncz_queue.triggers import CronTrigger, IntervalTrigger, preview_fire_times

BERLIN = "Europe/Berlin"


def show(title: str, trigger: CronTrigger | IntervalTrigger, now: datetime, count: int) -> None:
    print(title)
    for fire_time in preview_fire_times(trigger, UTC, count, now=now):
        print("   ", fire_time.isoformat())


# Spring forward: on 30 March 2025 Berlin's clocks jump from 02:00 to 03:00, so 02:30 does
# not exist that day. The task fires once, at the first instant after the gap.
show(
    "02:30 daily, spring forward:",
    CronTrigger(hour=2, minute=30, timezone=BERLIN),
    datetime(2025, 3, 29, 12, 0, tzinfo=UTC),
    2,
)

# Fall back: on 26 October 2025 the clocks go from 03:00 back to 02:00, so 02:30 happens
# twice. The task fires once, at the first occurrence (still summer time, +02:00).
show(
    "02:30 daily, fall back:",
    CronTrigger(hour=2, minute=30, timezone=BERLIN),
    datetime(2025, 10, 25, 12, 0, tzinfo=UTC),
    2,
)

# An interval counts elapsed time: every 12 hours stays 12 hours apart across the change,
# so the wall-clock time shifts by one hour.
show(
    "every 12 hours, fall back:",
    IntervalTrigger(hours=12, start_at="2025-10-25T08:00:00", timezone=BERLIN),
    datetime(2025, 10, 25, 0, 0, tzinfo=UTC),
    4,
)

# Output:
# 02:30 daily, spring forward:
#     2025-03-30T03:00:00+02:00
#     2025-03-31T02:30:00+02:00
# 02:30 daily, fall back:
#     2025-10-26T02:30:00+02:00
#     2025-10-27T02:30:00+01:00
# every 12 hours, fall back:
#     2025-10-25T08:00:00+02:00
#     2025-10-25T20:00:00+02:00
#     2025-10-26T07:00:00+01:00
#     2025-10-26T19:00:00+01:00
