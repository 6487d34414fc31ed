"""DateTrigger: fire once, at one moment."""

from datetime import UTC, datetime

from asyncz_queue.triggers import DateTrigger, preview_fire_times

now = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)

# An aware datetime is an instant.
at_noon_utc = DateTrigger(datetime(2025, 6, 1, 12, 0, tzinfo=UTC))
# A naive datetime (or ISO string) is a wall time in the trigger's time zone.
at_noon_in_tokyo = DateTrigger("2025-06-01T12:00:00", timezone="Asia/Tokyo")

for trigger in (at_noon_utc, at_noon_in_tokyo):
    # Ask for three fire times: a date trigger only ever has one.
    print(preview_fire_times(trigger, UTC, 3, now=now))

# Output:
# [datetime.datetime(2025, 6, 1, 12, 0, tzinfo=datetime.timezone.utc)]
# [datetime.datetime(2025, 6, 1, 12, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Tokyo'))]
