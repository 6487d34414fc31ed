"""AndTrigger and OrTrigger: combine other triggers."""

from datetime import UTC, datetime

from asyncz_queue.triggers import AndTrigger, CronTrigger, OrTrigger, preview_fire_times

now = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)

# OrTrigger: whenever any part fires — here 09:00 on weekdays and 11:00 at weekends.
either = OrTrigger(
    [
        CronTrigger(day_of_week="mon-fri", hour=9),
        CronTrigger(day_of_week="sat,sun", hour=11),
    ]
)
print([t.strftime("%a %H:%M") for t in preview_fire_times(either, UTC, 3, now=now)])

# AndTrigger: only when all parts agree — Friday the 13th, at noon.
unlucky = AndTrigger([CronTrigger(day=13, hour=12), CronTrigger(day_of_week="fri", hour=12)])
print([t.date().isoformat() for t in preview_fire_times(unlucky, UTC, 2, now=now)])

# Output:
# ['Sun 11:00', 'Mon 09:00', 'Tue 09:00']
# ['2025-06-13', '2026-02-13']
