"""CronTrigger.from_crontab: a five-field crontab line."""

from datetime import UTC, datetime

from asyncz_queue.triggers import CronTrigger, preview_fire_times

now = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)  # a Sunday

# minute hour day month day-of-week; in a crontab line 0 and 7 are Sunday.
weekend = CronTrigger.from_crontab("0 6 * * 6,0")
print(weekend)
print([t.strftime("%a %H:%M") for t in preview_fire_times(weekend, UTC, 3, now=now)])

hourly = CronTrigger.from_crontab("@hourly", timezone="Europe/London")
print(hourly)

# Output:
# CronTrigger(day_of_week='sat,sun', hour='6', minute='0', second='0')
# ['Sun 06:00', 'Sat 06:00', 'Sun 06:00']
# CronTrigger(minute='0', second='0', timezone='Europe/London')
