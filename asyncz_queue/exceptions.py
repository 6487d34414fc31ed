"""Every error asyncz_queue raises on purpose; all derive from `AsynczQueueError`."""

from __future__ import annotations

from collections.abc import Iterable


class AsynczQueueError(Exception):
    """Base class of every error raised by asyncz_queue."""


class UnknownAliasError(AsynczQueueError, LookupError):
    """A plugin, executor or store alias that is not known or not configured."""

    def __init__(self, kind: str, alias: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.alias = alias
        self.known = sorted(known)
        listed = ", ".join(repr(name) for name in self.known) or "none"
        super().__init__(f"unknown {kind} alias {alias!r}; known {kind} aliases: {listed}")


class ConflictIdError(AsynczQueueError, KeyError):
    """A task with this id already exists (pass `replace_existing=True` to replace it)."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(task_id)

    def __str__(self) -> str:
        return f"a task with id {self.task_id!r} already exists"


class TaskLookupError(AsynczQueueError, KeyError):
    """No task with this id exists."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(task_id)

    def __str__(self) -> str:
        return f"no task with id {self.task_id!r}"


class JobLookupError(AsynczQueueError, KeyError):
    """No job with this id exists."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(job_id)

    def __str__(self) -> str:
        return f"no job with id {self.job_id!r}"


class MaximumInstancesError(AsynczQueueError):
    """A task already has `max_instances` jobs running."""

    def __init__(self, task_id: str, max_instances: int) -> None:
        self.task_id = task_id
        self.max_instances = max_instances
        super().__init__(
            f"task {task_id!r} already has its maximum of {max_instances} running instance(s)"
        )


class SchedulerAlreadyRunningError(AsynczQueueError):
    """`start()` was called on a scheduler that is already running."""

    def __str__(self) -> str:
        return "the scheduler is already running"


class SchedulerNotRunningError(AsynczQueueError):
    """The operation needs a running scheduler (or the scheduler shut down while a
    `Reference` waited for its job)."""

    def __init__(self, message: str = "the scheduler is not running") -> None:
        super().__init__(message)


class SerializationError(AsynczQueueError, ValueError):
    """A value (argument, result, callable) cannot be stored with the store's serializer."""


class CallableReferenceError(SerializationError):
    """A callable that cannot be stored as an importable `"module:qualname"` reference."""


class JobFailedError(AsynczQueueError):
    """The job ended without a result; carries the remote error type, message and traceback."""

    def __init__(
        self, job_id: str, state: str, error_type: str, message: str, traceback: str
    ) -> None:
        self.job_id = job_id
        self.state = state
        self.error_type = error_type
        self.message = message
        self.traceback = traceback
        super().__init__(f"job {job_id} {state}: {error_type}: {message}")


class SchemaVersionError(AsynczQueueError):
    """The database schema is newer (or older) than this version of asyncz_queue supports."""


class StoreUnavailableError(AsynczQueueError, ConnectionError):
    """The store cannot be reached (the database is down or the connection was lost)."""


class ConfigurationError(AsynczQueueError, ValueError):
    """An executor, store or scheduler option has an invalid name or value."""


class JobCancelledError(AsynczQueueError):
    """A running job was stopped because `cancel_job()` asked for it."""


class JobInterruptedError(AsynczQueueError):
    """A running job was stopped by `shutdown(wait=False)`; it runs again elsewhere."""
