"""Every trigger survives a JSON round trip; `build_trigger` and `preview_fire_times`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from asyncz_queue.triggers import (
    TRIGGER_ALIASES,
    AndTrigger,
    BaseTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    build_trigger,
    preview_fire_times,
    trigger_from_dict,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2024, 10, 26, 22, tzinfo=UTC)

TRIGGERS: list[BaseTrigger] = [
    DateTrigger(datetime(2024, 10, 27, 2, 30), timezone="Europe/Berlin"),
    DateTrigger(datetime(2024, 10, 27, 2, 30)),
    DateTrigger(datetime(2024, 10, 27, 1, 30, tzinfo=timezone(timedelta(hours=-4)))),
    IntervalTrigger(seconds=0.2, start_at=NOW, timezone="UTC"),
    IntervalTrigger(
        weeks=1,
        days=2,
        hours=3,
        start_at=datetime(2024, 3, 31, 2, 30),
        end_at="2025-01-01T00:00:00",
        timezone="Australia/Lord_Howe",
        jitter=1.5,
    ),
    IntervalTrigger(minutes=5, start_at=datetime(2024, 1, 1), timezone=UTC),
    CronTrigger(day="last fri", hour=9, timezone="America/New_York"),
    CronTrigger(year="2024-2030/2", month="feb", day="1st mon,last", second="*/10"),
    CronTrigger.from_crontab("*/5 9-17 * * 1-5", timezone=BERLIN),
    CronTrigger(
        minute=30,
        start_at=datetime(2024, 1, 1),
        end_at=datetime(2025, 1, 1),
        timezone="+05:30",
        jitter=2,
    ),
    AndTrigger([CronTrigger(hour="*/2"), IntervalTrigger(hours=3, start_at=NOW)]),
    OrTrigger(
        [
            DateTrigger(NOW),
            AndTrigger([CronTrigger(minute=0), CronTrigger(hour=3)], jitter=5),
        ]
    ),
]


def _jittered(trigger: BaseTrigger) -> bool:
    return "jitter" in json.dumps(trigger.to_dict()).replace('"jitter": null', "")


@pytest.mark.parametrize("trigger", TRIGGERS, ids=repr)
def test_json_round_trip_gives_an_equal_trigger(trigger: BaseTrigger) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))
    assert data["type"] == trigger.alias
    copy = trigger_from_dict(data)
    assert type(copy) is type(trigger)
    assert copy == trigger
    assert copy.to_dict() == trigger.to_dict()
    assert repr(copy) == repr(trigger)
    assert hash(copy) == hash(trigger)


@pytest.mark.parametrize("trigger", [t for t in TRIGGERS if not _jittered(t)], ids=repr)
def test_round_trip_keeps_the_fire_times(trigger: BaseTrigger) -> None:
    copy = trigger_from_dict(json.loads(json.dumps(trigger.to_dict())))
    assert preview_fire_times(copy, BERLIN, 5, now=NOW) == preview_fire_times(
        trigger, BERLIN, 5, now=NOW
    )


def test_timezones_are_stored_by_iana_key() -> None:
    assert CronTrigger(timezone=BERLIN).to_dict()["timezone"] == "Europe/Berlin"
    assert CronTrigger(timezone=UTC).to_dict()["timezone"] == "UTC"
    assert CronTrigger(timezone="-03:30").to_dict()["timezone"] == "-03:30"


def test_different_triggers_are_not_equal() -> None:
    assert CronTrigger(hour=3) != CronTrigger(hour=4)
    assert CronTrigger(hour=3) != CronTrigger(hour=3, timezone="UTC")
    assert DateTrigger(NOW) != IntervalTrigger(hours=1, start_at=NOW)


def test_aliases() -> None:
    assert {
        "date": DateTrigger,
        "interval": IntervalTrigger,
        "cron": CronTrigger,
        "and": AndTrigger,
        "or": OrTrigger,
    } == TRIGGER_ALIASES


def test_build_trigger_uses_the_scheduler_timezone_as_default() -> None:
    trigger = build_trigger("cron", BERLIN, hour=9)
    assert trigger == CronTrigger(hour=9, timezone="Europe/Berlin")
    explicit = build_trigger("interval", BERLIN, hours=1, start_at=NOW, timezone="UTC")
    assert explicit == IntervalTrigger(hours=1, start_at=NOW, timezone="UTC")
    combined = build_trigger("or", BERLIN, triggers=[CronTrigger(hour=1).to_dict()])
    assert combined == OrTrigger([CronTrigger(hour=1)])


def test_build_trigger_passes_instances_through_and_none_means_now() -> None:
    instance = CronTrigger(hour=1)
    assert build_trigger(instance, BERLIN) is instance
    before = datetime.now(UTC)
    now_trigger = build_trigger(None, BERLIN)
    assert isinstance(now_trigger, DateTrigger)
    assert now_trigger.timezone is BERLIN
    assert before <= now_trigger.run_at <= datetime.now(UTC)


def test_preview_fire_times_lists_the_next_n_and_stops_when_finished() -> None:
    trigger = CronTrigger(hour="*/6", end_at=datetime(2024, 1, 2, 6, tzinfo=UTC))
    assert preview_fire_times(trigger, UTC, 3, now=datetime(2024, 1, 1, 5, tzinfo=UTC)) == [
        datetime(2024, 1, 1, 6, tzinfo=UTC),
        datetime(2024, 1, 1, 12, tzinfo=UTC),
        datetime(2024, 1, 1, 18, tzinfo=UTC),
    ]
    assert len(preview_fire_times(trigger, UTC, 10, now=datetime(2024, 1, 1, tzinfo=UTC))) == 6
    assert preview_fire_times(trigger, UTC, 0) == []
