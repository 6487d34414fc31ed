"""Event models: one dataclass per kind, each carrying an integer `code`."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from asyncz_queue.events.constants import EVENT_NAMES
from asyncz_queue.jobs import Job, JobState

_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, kw_only=True)
class SchedulerEvent:
    """Something happened to the scheduler itself (start, shutdown, an executor added...)."""

    kind: ClassVar[str] = "scheduler"

    code: int
    timestamp: datetime = field(default_factory=_now)
    scheduler_identity: str | None = None
    alias: str | None = None
    exception: str | None = None

    @property
    def name(self) -> str:
        """The code's constant name, such as `"TASK_EXECUTED"`."""
        return EVENT_NAMES.get(self.code, str(self.code))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that `event_from_dict` turns back into an equal event."""
        # Shallow on purpose (asdict deep-copies every value: most of a busy worker's CPU).
        data: dict[str, Any] = {"kind": self.kind}
        for name in self._field_names():
            value = getattr(self, name)
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        return data

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        names = _FIELD_NAMES.get(cls)
        if names is None:
            names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
        return names


@dataclass(slots=True, kw_only=True)
class TaskEvent(SchedulerEvent):
    """Something happened to a task (added, modified, removed, missed a fire...)."""

    kind: ClassVar[str] = "task"

    task_id: str | None = None
    store: str | None = None
    scheduled_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class JobEvent(SchedulerEvent):
    """Something happened to a job (pushed, started, succeeded, failed, retrying...)."""

    kind: ClassVar[str] = "job"

    job_id: str | None = None
    task_id: str | None = None
    executor: str | None = None
    scheduled_at: datetime | None = None
    attempt: int = 0
    return_value: Any = None
    traceback: str | None = None


def job_event(code: int, job: Job, identity: str) -> JobEvent:
    """The event `code` about `job` as it is now: its result once succeeded, its last error
    once failed, retrying or cancelled while running."""
    job_id, task_id, executor, scheduled_at, attempt, return_value, exception, traceback = job_row(
        job
    )
    return JobEvent(
        code=code,
        scheduler_identity=identity,
        job_id=job_id,
        task_id=task_id,
        executor=executor,
        scheduled_at=scheduled_at,
        attempt=attempt,
        return_value=return_value,
        exception=exception,
        traceback=traceback,
    )


#: The fields of a `JobEvent` that come from its job, in the order of `job_row`.
JOB_ROW = (
    "job_id",
    "task_id",
    "executor",
    "scheduled_at",
    "attempt",
    "return_value",
    "exception",
    "traceback",
)


def job_row(job: Job) -> list[Any]:
    """The values of `JOB_ROW` for `job` as it is now (see `job_event`): how job events
    travel between processes, one short row each instead of a whole event."""
    failed = job.state in (JobState.FAILED, JobState.RETRYING) or (
        job.state is JobState.CANCELLED and job.error is not None
    )
    return [
        job.id,
        job.task_id,
        job.executor,
        job.scheduled_at,
        job.attempts,
        job.result if job.state is JobState.SUCCEEDED else None,
        f"{job.error_type}: {job.error}" if failed else None,
        job.errors[-1] if failed and job.errors else None,
    ]


_KINDS: dict[str, type[SchedulerEvent]] = {
    cls.kind: cls for cls in (SchedulerEvent, TaskEvent, JobEvent)
}
_DATETIME_FIELDS = {"timestamp", "scheduled_at"}


def event_from_dict(data: dict[str, Any]) -> SchedulerEvent:
    """Rebuild an event from `event.to_dict()` (used to carry events between processes)."""
    cls = _KINDS[data.get("kind", "scheduler")]
    names = {f.name for f in fields(cls)}
    values = {key: value for key, value in data.items() if key in names}
    for key in _DATETIME_FIELDS & values.keys():
        if isinstance(values[key], str):
            values[key] = datetime.fromisoformat(values[key])
    return cls(**values)
