"""`Task` — a callable on a trigger — and the pure maths of firing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from asyncz_queue.jobs import (
    INT32_MAX,
    INT32_MIN,
    MAX_BACKOFF,
    PENDING_JOB,
    Job,
    Key,
    new_id,
    require_aware,
)
from asyncz_queue.triggers import BaseTrigger, trigger_from_dict


def _load_trigger(value: Any) -> BaseTrigger:
    if isinstance(value, BaseTrigger):
        return value
    if isinstance(value, dict):
        return trigger_from_dict(value)
    raise ValueError(f"expected a trigger or its dict form, got {type(value).__name__}")


TriggerField = Annotated[
    BaseTrigger,
    BeforeValidator(_load_trigger),
    PlainSerializer(lambda trigger: trigger.to_dict(), return_type=dict),
]


class Task(BaseModel):
    """A schedule: what to call (`fn`, `args`, `kwargs`), when (`trigger`) and how.

    `next_run_time` is None while the task is paused. Tasks are immutable; the scheduler's
    `update_task`/`reschedule_task`/`pause_task` store changed copies.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    id: Key
    name: str | None = None
    fn: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerField
    executor: str = "default"
    store: str = "default"
    max_instances: int = Field(default=1, ge=1, le=INT32_MAX)
    coalesce: bool = True
    mistrigger_grace_time: float | None = Field(default=1.0, ge=0)
    next_run_time: datetime | None = None
    priority: int = Field(default=0, ge=INT32_MIN, le=INT32_MAX)
    max_attempts: int = Field(default=1, ge=1, le=INT32_MAX)
    retry_on: tuple[str, ...] = ()
    retry_backoff: float = Field(default=1.0, ge=0, le=MAX_BACKOFF)
    retry_backoff_max: float = Field(default=300.0, ge=0, le=MAX_BACKOFF)
    timeout: float | None = Field(default=None, gt=0)

    @field_validator("next_run_time")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Kept in UTC: stores order and compare run times, and two times of one zone compare
        # by wall time (an hour repeated at a DST change would fire out of order).
        return _utc(require_aware(value))

    @property
    def paused(self) -> bool:
        """True when the task will not fire until resumed."""
        return self.next_run_time is None

    def job_for(self, scheduled_at: datetime, now: datetime) -> Job:
        """The pending job of the fire at `scheduled_at` (built without validation: hot path).

        `scheduled_at` is stored in UTC: an instant in a repeated DST hour never compares
        equal to the same instant in another zone, and fires are deduplicated by it.
        """
        if scheduled_at.tzinfo is not UTC:
            scheduled_at = scheduled_at.astimezone(UTC)
        task = self.__dict__  # one attribute read, not twelve (why: above `PENDING_JOB`)
        values = PENDING_JOB.copy()
        values["id"] = new_id()
        values["task_id"] = task["id"]
        values["fn"] = task["fn"]
        values["args"] = task["args"]
        values["kwargs"] = task["kwargs"]
        values["executor"] = task["executor"]
        values["priority"] = task["priority"]
        values["max_attempts"] = task["max_attempts"]
        values["max_instances"] = task["max_instances"]
        values["retry_on"] = task["retry_on"]
        values["retry_backoff"] = task["retry_backoff"]
        values["retry_backoff_max"] = task["retry_backoff_max"]
        values["timeout"] = task["timeout"]
        values["scheduled_at"] = scheduled_at
        values["created_at"] = now
        return Job.build(values)


#: After this many missed fire times in one go, the rest are skipped in a single jump.
MAX_CATCH_UP = 1000


@dataclass(slots=True)
class FirePlan:
    """What one fire of a due task does: the run times to turn into jobs, the missed ones,
    and the task's next run time (None: the trigger is finished and the task is deleted)."""

    run_times: list[datetime] = field(default_factory=list)
    missed: list[datetime] = field(default_factory=list)
    next_run_time: datetime | None = None


def plan_fire(task: Task, now: datetime, timezone: tzinfo) -> FirePlan:
    """Decide what a task due at `now` fires, applying coalesce and the misfire grace time.

    Pure: the caller supplies `now`. Run times older than `mistrigger_grace_time` are missed;
    with `coalesce` all due run times collapse into the latest one.
    """
    run_time = task.next_run_time
    if run_time is None or run_time > now:
        return FirePlan(next_run_time=run_time)
    trigger = task.trigger
    following = trigger.get_next_trigger_time(timezone, run_time, now)
    if following is not None and following <= now:
        return _plan_catch_up(task, now, timezone, [run_time, following])
    # The usual case: exactly one run time is due.
    grace = task.mistrigger_grace_time
    if grace is not None and (now - run_time).total_seconds() > grace:
        return FirePlan([], [run_time], _utc(following))
    return FirePlan([run_time], [], _utc(following))


def _utc(moment: datetime | None) -> datetime | None:
    """A run time as tasks keep it (see `Task.next_run_time`): in UTC."""
    if moment is None or moment.tzinfo is UTC:
        return moment
    return moment.astimezone(UTC)


def _plan_catch_up(task: Task, now: datetime, timezone: tzinfo, due: list[datetime]) -> FirePlan:
    """`plan_fire` for a task with several run times due (it was late): `due` holds the
    first ones; walk to the present, then apply coalesce and the grace time to each."""
    trigger = task.trigger
    grace = task.mistrigger_grace_time
    run_time: datetime | None = trigger.get_next_trigger_time(timezone, due[-1], now)
    while run_time is not None and run_time <= now:
        due.append(run_time)
        if len(due) >= MAX_CATCH_UP:
            # A tiny interval after a long outage: jump to the present instead of walking.
            due += _within_grace(trigger, timezone, now, grace, due[-1])
            run_time = trigger.get_next_trigger_time(timezone, None, now + _EPSILON)
            break
        run_time = trigger.get_next_trigger_time(timezone, run_time, now)
    plan = FirePlan(next_run_time=_utc(run_time))
    if task.coalesce:
        due = due[-1:]
    for run_time in due:
        if grace is not None and (now - run_time).total_seconds() > grace:
            plan.missed.append(run_time)
        else:
            plan.run_times.append(run_time)
    return plan


_EPSILON = timedelta(microseconds=1)


def _within_grace(
    trigger: BaseTrigger, timezone: tzinfo, now: datetime, grace: float | None, last: datetime
) -> list[datetime]:
    """The run times after `last` still within the grace time of `now` (at most
    MAX_CATCH_UP): a catch-up cut short at `last` skips the rest, but not these, which may
    still run (the latest of them, when coalescing)."""
    if grace is None:
        return []  # every run time is on time: `last` will do
    try:
        since = now - timedelta(seconds=grace)
    except OverflowError:
        since = last  # a grace time reaching before the first date
    if since > last:
        recent = trigger.get_next_trigger_time(timezone, None, since)
    else:
        recent = trigger.get_next_trigger_time(timezone, last, now)
    found: list[datetime] = []
    while recent is not None and recent <= now and len(found) < MAX_CATCH_UP:
        found.append(recent)
        recent = trigger.get_next_trigger_time(timezone, recent, now)
    return found
