"""CronTrigger: fire when the wall-clock time matches every field."""

from datetime import UTC, datetime

from asyncz_queue.triggers import CronTrigger, preview_fire_times

now = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)  # a Sunday


def show(title: str, trigger: CronTrigger, count: int = 3) -> None:
    times = preview_fire_times(trigger, UTC, count, now=now)
    print(title, [t.strftime("%a %d %b %H:%M") for t in times])


# Fields below the last one given default to their minimum: 09:00:00 every day.
show("daily at 9:", CronTrigger(hour=9))
# Weekdays at 08:30, 12:30 and 16:30.
show("office hours:", CronTrigger(day_of_week="mon-fri", hour="8-16/4", minute=30), 4)
# Every 15 minutes during one hour.
show("quarter hours:", CronTrigger(hour=10, minute="*/15"), 4)
# The last Friday of the month and the first Monday, at 18:00.
show("last friday:", CronTrigger(day="last fri", hour=18), 2)
show("first monday:", CronTrigger(day="1st mon", hour=18), 2)
# The last day of every month, in a time zone of its own.
show("month end:", CronTrigger(day="last", hour=23, minute=59, timezone="Europe/Paris"), 2)

# Output:
# daily at 9: ['Sun 01 Jun 09:00', 'Mon 02 Jun 09:00', 'Tue 03 Jun 09:00']
# office hours: ['Mon 02 Jun 08:30', 'Mon 02 Jun 12:30', 'Mon 02 Jun 16:30', 'Tue 03 Jun 08:30']
# quarter hours: ['Sun 01 Jun 10:00', 'Sun 01 Jun 10:15', 'Sun 01 Jun 10:30', 'Sun 01 Jun 10:45']
# last friday: ['Fri 27 Jun 18:00', 'Fri 25 Jul 18:00']
# first monday: ['Mon 02 Jun 18:00', 'Mon 07 Jul 18:00']
# month end: ['Mon 30 Jun 23:59', 'Thu 31 Jul 23:59']
