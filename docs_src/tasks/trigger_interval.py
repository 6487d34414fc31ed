"""IntervalTrigger: fire every fixed amount of elapsed time."""

from datetime import UTC, datetime

from asyncz_queue.triggers import IntervalTrigger, preview_fire_times

now = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)

every_90_minutes = IntervalTrigger(
    hours=1,
    minutes=30,
    start_at=datetime(2025, 6, 1, 9, 0, tzinfo=UTC),
    end_at=datetime(2025, 6, 1, 13, 0, tzinfo=UTC),
)
for fire_time in preview_fire_times(every_90_minutes, UTC, 10, now=now):
    print(fire_time.isoformat())

# Fractions of a second are fine too.
print(IntervalTrigger(seconds=0.2).interval)

# Output:
# 2025-06-01T09:00:00+00:00
# 2025-06-01T10:30:00+00:00
# 2025-06-01T12:00:00+00:00
# 0:00:00.200000
