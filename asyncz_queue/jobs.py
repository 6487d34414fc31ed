"""`Job` — one execution of a callable — its states, and the `Reference` that awaits it."""

from __future__ import annotations

import contextvars
import random
import traceback as traceback_module
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from asyncz_queue._options import MAX_SECONDS
from asyncz_queue.exceptions import JobFailedError
from asyncz_queue.serializers import callable_to_ref


class JobState(StrEnum):
    """Where a job is in its life: `pending → running → succeeded | failed | retrying …`."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        """True for the states a job never leaves."""
        return self in FINISHED_STATES


FINISHED_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED}
)
#: States in which a job waits for a worker (a retrying job waits for its backoff to pass).
WAITING_STATES = frozenset({JobState.PENDING, JobState.RETRYING})
#: The states the hot paths name, as plain globals: on Python 3.11 reading `JobState.PENDING`
#: costs 75 ns (an attribute lookup on the enum class), a global about 15 ns.
PENDING, RUNNING, SUCCEEDED = JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED


#: The range of the counts and the priority of jobs and tasks: 32-bit, as the `integer`
#: columns PostgreSQL keeps them in (a wider value would not fit, or silently wrap in COPY).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
#: The longest id or unique key of a job or task, in characters: PostgreSQL indexes them, and
#: an index entry holds about 2,700 bytes (512 characters of 4 bytes fit).
MAX_KEY_LENGTH = 512


def _no_nul(key: str) -> str:
    if "\x00" in key:
        raise ValueError(f"{key!r} holds a NUL character, which PostgreSQL text cannot hold")
    return key


#: An id or key of a job or task: at most MAX_KEY_LENGTH characters, and no NUL (a store
#: that keeps it in a database could not, so no store takes it).
Key = Annotated[str, Field(max_length=MAX_KEY_LENGTH), AfterValidator(_no_nul)]
#: The longest retry backoff, in seconds: a retry is always due at a date Python can hold.
MAX_BACKOFF = MAX_SECONDS

_UUID4_MASK = ~(0xF000 << 64) & ~(0xC000 << 48) & ((1 << 128) - 1)
_UUID4_BITS = (0x4000 << 64) | (0x8000 << 48)


def new_id() -> str:
    """A random version-4 UUID string.

    Random, not sequential, although a counter after a random prefix costs 0.25 µs against
    0.65 µs: applications hand job ids out (a status URL per job), and an id must not tell
    its neighbours. Made with `random` (about 4x faster than `str(uuid.uuid4())`), so ids
    are hard to guess but not secret; a forked child gets a reseeded generator. The hex
    comes from `bytes.hex()`, a fifth faster than `"%032x"` formatting.
    """
    h = ((random.getrandbits(128) & _UUID4_MASK) | _UUID4_BITS).to_bytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def require_aware(value: datetime | None) -> datetime | None:
    """`value` unchanged; `ValueError` when it is a naive datetime (a validator of models)."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(
            f"{value.isoformat()} has no timezone; pass an aware datetime "
            "(for example datetime.now(UTC) or dt.replace(tzinfo=ZoneInfo(...)))"
        )
    return value


def exception_names(exc_type: type[BaseException]) -> set[str]:
    """The names a `retry_on` entry may use for `exc_type` or one of its bases."""
    names: set[str] = set()
    for cls in exc_type.__mro__:
        names.add(cls.__qualname__)
        names.add(f"{cls.__module__}.{cls.__qualname__}")
    return names


def _message(exc: BaseException) -> str:
    """`str(exc)`, or a stand-in when that raises: an exception whose `__str__` is broken
    (or returns no string) still fails its job, with its type and traceback."""
    try:
        return str(exc)
    except Exception as error:
        return f"<str() of the exception failed: {type(error).__name__}: {error}>"


def _type_name(exc_type: type[BaseException] | str) -> str:
    if isinstance(exc_type, str):
        return exc_type
    if exc_type.__module__ == "builtins":
        return exc_type.__qualname__
    return f"{exc_type.__module__}.{exc_type.__qualname__}"


@dataclass(slots=True, frozen=True)
class JobError:
    """Why an attempt failed, in a form that crosses processes (no live exception object).

    `names` holds the qualified and plain names of the exception type and its bases, which
    `retry_on` is matched against; `retryable` is False for `BaseException`s that are not
    `Exception`s (such as `SystemExit`) unless `retry_on` names them.
    """

    type_name: str
    message: str
    traceback: str
    names: frozenset[str] = frozenset()
    retryable: bool = True

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        """Describe `exc`, with its formatted traceback."""
        exc_type = type(exc)
        return cls(
            type_name=_type_name(exc_type),
            message=_message(exc),
            traceback="".join(traceback_module.format_exception(exc)),
            names=frozenset(exception_names(exc_type)),
            retryable=isinstance(exc, Exception),
        )

    @classmethod
    def lost(cls, message: str) -> JobError:
        """An attempt that ended without an outcome (its worker was lost or stopped)."""
        return cls("WorkerLost", message, message, frozenset({"WorkerLost"}), True)


class Job(BaseModel):
    """One execution of a callable: immutable; `with_*()` methods return changed copies.

    Build one with `Job.from_func(...)` and push it with `scheduler.push(job)`. A job that
    a task's trigger fired carries the task's id in `task_id`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    id: Key = Field(default_factory=new_id)
    task_id: Key | None = None
    fn: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = Field(default_factory=dict)
    executor: str = "default"
    priority: int = Field(default=0, ge=INT32_MIN, le=INT32_MAX)
    state: JobState = JobState.PENDING
    attempts: int = Field(default=0, ge=0, le=INT32_MAX)
    max_attempts: int = Field(default=1, ge=1, le=INT32_MAX)
    max_instances: int | None = Field(default=None, ge=1, le=INT32_MAX)
    retry_on: tuple[str, ...] = ()
    retry_backoff: float = Field(default=1.0, ge=0, le=MAX_BACKOFF)
    retry_backoff_max: float = Field(default=300.0, ge=0, le=MAX_BACKOFF)
    timeout: float | None = Field(default=None, gt=0)
    unique_key: Key | None = None
    scheduled_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    worker_id: str | None = None
    lease_until: datetime | None = None
    result: Any = None
    error_type: str | None = None
    error: str | None = None
    errors: tuple[str, ...] = ()

    _aware = field_validator(
        "scheduled_at", "created_at", "started_at", "completed_at", "lease_until"
    )(require_aware)

    @classmethod
    def from_func(
        cls,
        fn: Callable[..., Any] | str,
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        executor: str = "default",
        priority: int = 0,
        max_attempts: int = 1,
        scheduled_at: datetime | None = None,
        unique_key: str | None = None,
        timeout: float | None = None,
        retry_on: Iterable[type[BaseException] | str] = (),
        retry_backoff: float = 1.0,
        retry_backoff_max: float = 300.0,
    ) -> Job:
        """Build a pending job that calls `fn(*args, **kwargs)`.

        `fn` must be importable by name (`"module:qualname"` or a module-level function).
        `scheduled_at` must be timezone-aware (a naive datetime raises `ValueError`).
        `retry_on` limits retries to these exception types (default: any `Exception`).
        """
        now = utcnow()
        values = PENDING_JOB.copy()
        values["id"] = new_id()
        values["fn"] = callable_to_ref(fn)
        values["args"] = tuple(args)
        values["kwargs"] = dict(kwargs) if kwargs else {}
        values["executor"] = executor
        values["priority"] = priority
        values["max_attempts"] = max_attempts
        values["retry_on"] = tuple(_type_name(t) for t in retry_on) if retry_on else ()
        values["retry_backoff"] = retry_backoff
        values["retry_backoff_max"] = retry_backoff_max
        values["timeout"] = timeout
        values["unique_key"] = unique_key
        values["scheduled_at"] = scheduled_at if scheduled_at is not None else now
        values["created_at"] = now
        if _valid_as_is(values):
            return cls.build(values)
        return cls.model_validate(values)  # converts what it may, else names the field

    def _with(self, **changes: Any) -> Job:
        # Validate through the model so `with_*` refuses what the constructor refuses.
        return type(self).model_validate({**self.__dict__, **changes})

    def with_priority(self, priority: int) -> Job:
        """A copy with another priority (lower runs first)."""
        return self._with(priority=priority)

    def with_max_attempts(self, max_attempts: int) -> Job:
        """A copy that may run up to `max_attempts` times."""
        return self._with(max_attempts=max_attempts)

    def with_scheduled_at(self, scheduled_at: datetime) -> Job:
        """A copy that does not start before `scheduled_at` (timezone-aware)."""
        return self._with(scheduled_at=scheduled_at)

    def with_executor(self, executor: str) -> Job:
        """A copy that runs on the executor with this alias."""
        return self._with(executor=executor)

    def with_unique_key(self, unique_key: str | None) -> Job:
        """A copy that is not pushed twice while an unfinished job holds `unique_key`."""
        return self._with(unique_key=unique_key)

    def with_timeout(self, timeout: float | None) -> Job:
        """A copy whose attempts fail after `timeout` seconds."""
        return self._with(timeout=timeout)

    def with_retry_on(self, *exc_types: type[BaseException] | str) -> Job:
        """A copy that retries only these exception types."""
        return self._with(retry_on=tuple(_type_name(t) for t in exc_types))

    # ---- state transitions used by the scheduler; never validated again (hot path) ----

    @classmethod
    def build(cls, values: dict[str, Any]) -> Job:
        """A job from a complete dict of field values, without validation (hot path).

        For the scheduler's own jobs, whose values it made itself; 5-10x faster than
        `model_construct`.
        """
        job = _new(cls)
        _set_dict(job, values)
        _set_fields_set(job, _ALL_FIELDS)
        _set_extra(job, None)
        _set_private(job, None)
        return job

    def evolve(self, **changes: Any) -> Job:
        """A copy with `changes` applied without validation (for internal state changes)."""
        values = self.__dict__.copy()
        values.update(changes)
        return Job.build(values)

    def should_retry(self, error: JobError) -> bool:
        """Whether this failed attempt is tried again (attempts left and `retry_on` matches)."""
        if self.attempts >= self.max_attempts or not error.retryable:
            return False
        return not self.retry_on or not error.names.isdisjoint(self.retry_on)

    def retry_delay(self) -> float:
        """Seconds to wait before the next attempt: exponential backoff with full jitter."""
        # A float power: past about 1,000 attempts an int one could not become a float (the
        # product turns inf instead, and the ceiling is retry_backoff_max).
        growth = 2.0 ** min(max(self.attempts - 1, 0), 1023)
        ceiling = min(self.retry_backoff_max, self.retry_backoff * growth)
        return random.uniform(0, ceiling)

    # The two transitions every job makes set their fields one by one: `dict.update` with
    # keyword arguments builds a dict of them first and costs twice as much.

    def claimed(self, worker_id: str, now: datetime, lease_until: datetime) -> Job:
        """The job as `worker_id` starts its next attempt at `now`, leased until `lease_until`."""
        values = self.__dict__.copy()
        values["state"] = RUNNING
        values["attempts"] = values["attempts"] + 1
        values["started_at"] = now
        values["worker_id"] = worker_id
        values["lease_until"] = lease_until
        return Job.build(values)

    def after_success(self, result: Any, now: datetime) -> Job:
        """The job after an attempt that returned `result`."""
        values = self.__dict__.copy()
        values["state"] = SUCCEEDED
        values["result"] = result
        values["completed_at"] = now
        values["lease_until"] = None
        return Job.build(values)

    def after_failure(self, error: JobError, now: datetime) -> Job:
        """The job after a failed attempt: `RETRYING` after a backoff, or `FAILED`."""
        changes: dict[str, Any] = {
            "error_type": error.type_name,
            "error": error.message,
            "errors": (*self.errors, error.traceback),
            "lease_until": None,
        }
        if self.should_retry(error):
            changes["state"] = JobState.RETRYING
            changes["scheduled_at"] = now + timedelta(seconds=self.retry_delay())
            changes["worker_id"] = None
        else:
            changes["state"] = JobState.FAILED
            changes["completed_at"] = now
        return self.evolve(**changes)

    def raise_for_state(self) -> Any:
        """Return the result of a succeeded job; raise `JobFailedError` for any other end."""
        if self.state is JobState.SUCCEEDED:
            return self.result
        return _raise_failed(self)


def _raise_failed(job: Job) -> Any:
    raise JobFailedError(
        job.id,
        job.state.value,
        job.error_type or job.state.value,
        job.error or f"the job was {job.state.value}",
        job.errors[-1] if job.errors else "",
    )


class JobSource(Protocol):
    """What a `Reference` needs from the scheduler that handed it out."""

    async def get_job(self, job_id: str) -> Job: ...

    async def wait_for_job(self, job_id: str, timeout: float | None) -> Job: ...


class Reference:
    """A handle on a pushed job: `await ref.wait()` for the finished job."""

    __slots__ = ("_source", "job_id")

    def __init__(self, job_id: str, source: JobSource) -> None:
        self.job_id = job_id
        self._source = source

    def __repr__(self) -> str:
        return f"Reference(job_id={self.job_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and other.job_id == self.job_id

    def __hash__(self) -> int:
        return hash(self.job_id)

    async def get(self) -> Job:
        """The job as stored now (in whatever state)."""
        return await self._source.get_job(self.job_id)

    async def wait(self, timeout: float | None = None) -> Job:
        """The finished job (succeeded, failed, cancelled or skipped).

        Raises the builtin `TimeoutError` when `timeout` seconds pass first.
        """
        return await self._source.wait_for_job(self.job_id, timeout)

    async def result(self, timeout: float | None = None) -> Any:
        """The job's return value; raises `JobFailedError` when it did not succeed."""
        job = await self.wait(timeout)
        return job.raise_for_state()


#: The fields set of every job `build` makes, shared: a `set`, as pydantic expects (its
#: `model_copy` copies it before adding to it; a frozen model never changes it in place).
_ALL_FIELDS = set(Job.model_fields)
_new = object.__new__
# The setters of `BaseModel`'s own slots, called directly: `object.__setattr__(job, name, v)`
# looks the slot up by name on every call and costs half as much again.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__

# Hot paths that read several fields of a job or task read them from its `__dict__`:
# pydantic's `BaseModel` defines `__getattr__`, so CPython cannot specialise `job.field`,
# and each such read costs about twice a dict lookup.

#: Every field of a job that has not run yet, in field order (a model dumps its fields in
#: the order of its `__dict__`). `from_func` and `Task.job_for` copy it and set the fields
#: they choose, always `id`, `fn`, `args`, `kwargs`, `scheduled_at` and `created_at`:
#: copying 26 keys and setting a few is about three times cheaper than a 26-key literal.
PENDING_JOB: dict[str, Any] = {
    "id": None,
    "task_id": None,
    "fn": None,
    "args": (),
    "kwargs": None,
    "executor": "default",
    "priority": 0,
    "state": PENDING,
    "attempts": 0,
    "max_attempts": 1,
    "max_instances": None,
    "retry_on": (),
    "retry_backoff": 1.0,
    "retry_backoff_max": 300.0,
    "timeout": None,
    "unique_key": None,
    "scheduled_at": None,
    "created_at": None,
    "started_at": None,
    "completed_at": None,
    "worker_id": None,
    "lease_until": None,
    "result": None,
    "error_type": None,
    "error": None,
    "errors": (),
}
assert tuple(PENDING_JOB) == tuple(Job.model_fields), "PENDING_JOB must follow the fields"


def _valid_as_is(values: dict[str, Any]) -> bool:
    """Whether `from_func`'s values need no conversion and break no constraint, so the job
    is built without pydantic (this check and `build`: 1.5 µs, against 4.2 µs for
    `model_validate`). Anything else goes through validation."""
    timeout = values["timeout"]
    unique_key = values["unique_key"]
    scheduled_at = values["scheduled_at"]
    backoff, backoff_max = values["retry_backoff"], values["retry_backoff_max"]
    return (
        type(values["executor"]) is str
        and type(values["priority"]) is int
        and INT32_MIN <= values["priority"] <= INT32_MAX
        and type(values["max_attempts"]) is int
        and 1 <= values["max_attempts"] <= INT32_MAX
        and type(backoff) is float
        and 0 <= backoff <= MAX_BACKOFF
        and type(backoff_max) is float
        and 0 <= backoff_max <= MAX_BACKOFF
        and (timeout is None or (type(timeout) is float and timeout > 0))
        and (
            unique_key is None
            or (
                type(unique_key) is str
                and len(unique_key) <= MAX_KEY_LENGTH
                and "\x00" not in unique_key
            )
        )
        and type(scheduled_at) is datetime
        and scheduled_at.utcoffset() is not None
        and (not values["kwargs"] or all(type(key) is str for key in values["kwargs"]))
    )


_current_job: contextvars.ContextVar[Job | None] = contextvars.ContextVar(
    "asyncz_queue_current_job", default=None
)


def current_job() -> Job | None:
    """The job whose attempt is running in this context (any executor), or None.

    `job.id`, `job.attempts` (this attempt's number) and `job.task_id` identify it.
    """
    return _current_job.get()


def set_current_job(job: Job | None) -> contextvars.Token[Job | None]:
    """Mark `job` as the one running in this context (for executors)."""
    return _current_job.set(job)
