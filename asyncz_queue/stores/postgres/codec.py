"""Turning `Job`s and `Task`s into statement parameters and database rows back into models.

Arguments and results go to `json` columns when the store serialises with JSON and to
`bytea` columns with any other serializer (pickle). A JSON store never loads the bytes: a row
written by a pickle store raises `SerializationError` there instead of running code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from asyncz_queue.exceptions import SerializationError
from asyncz_queue.jobs import Job, JobState
from asyncz_queue.serializers import JSONSerializer, Serializer
from asyncz_queue.tasks import Task

_EMPTY_LIST = "[]"
_STATES = {state.value: state for state in JobState}


class Codec:
    """Encodes and decodes with one store's serializer."""

    def __init__(self, serializer: Serializer) -> None:
        self.serializer = serializer
        #: JSON values are stored as `json` (readable in SQL); others as bytes.
        self.json = isinstance(serializer, JSONSerializer)

    # ---- values ------------------------------------------------------------------------

    def encode(self, value: Any) -> tuple[str | None, bytes | None]:
        """`(json_text, None)` for a JSON store, `(None, bytes)` otherwise."""
        data = self.serializer.dumps(value)
        if self.json:
            return data.decode(), None
        return None, data

    def decode(self, text_value: Any, data: bytes | None, what: str) -> Any:
        """The value of a `json` column (already parsed) or of its `bytea` twin."""
        if data is None:
            return text_value
        if self.json:
            raise SerializationError(
                f"{what} was stored by a store using another serializer (such as pickle); "
                "a JSON store never loads it — open the store with that serializer"
            )
        return self.serializer.loads(bytes(data))

    # ---- jobs --------------------------------------------------------------------------

    def job_columns(self, jobs: Sequence[Job]) -> dict[str, list[Any]]:
        """One list per `jobs` column, ready for `unnest`; `SerializationError` (naming the
        job and which arguments) when a job's arguments cannot be stored."""
        cols: dict[str, list[Any]] = {name: [] for name in _JOB_INSERT}
        for job in jobs:
            try:
                arguments, arguments_bytes = self.encode((job.args, job.kwargs))
                result, result_bytes = (
                    (None, None) if job.result is None else self.encode(job.result)
                )
            except SerializationError:
                raise SerializationError(self._explain(job)) from None
            cols["id"].append(job.id)
            cols["task_id"].append(job.task_id)
            cols["fn"].append(job.fn)
            cols["arguments"].append(arguments)
            cols["arguments_bytes"].append(arguments_bytes)
            cols["executor"].append(job.executor)
            cols["priority"].append(job.priority)
            cols["state"].append(job.state.value)
            cols["attempts"].append(job.attempts)
            cols["max_attempts"].append(job.max_attempts)
            cols["max_instances"].append(job.max_instances)
            cols["retry_on"].append(json.dumps(list(job.retry_on)) if job.retry_on else "[]")
            cols["retry_backoff"].append(job.retry_backoff)
            cols["retry_backoff_max"].append(job.retry_backoff_max)
            cols["timeout"].append(job.timeout)
            cols["unique_key"].append(job.unique_key)
            cols["scheduled_at"].append(job.scheduled_at)
            cols["created_at"].append(job.created_at)
            cols["started_at"].append(job.started_at)
            cols["completed_at"].append(job.completed_at)
            cols["worker_id"].append(job.worker_id)
            cols["lease_until"].append(job.lease_until)
            cols["result"].append(result)
            cols["result_bytes"].append(result_bytes)
            cols["error_type"].append(job.error_type)
            cols["error"].append(job.error)
            cols["errors"].append(json.dumps(list(job.errors)) if job.errors else _EMPTY_LIST)
        return _nulls_for_empty(cols)

    def outcome_columns(
        self, jobs: Sequence[Job], fence_workers: Sequence[str | None]
    ) -> dict[str, list[Any]]:
        """The columns `COMPLETE_JOBS` writes, fenced by `fence_workers` and `job.attempts`."""
        cols: dict[str, list[Any]] = {name: [] for name in _OUTCOME}
        for job, fence in zip(jobs, fence_workers, strict=True):
            try:
                result, result_bytes = (
                    (None, None) if job.result is None else self.encode(job.result)
                )
            except SerializationError as exc:
                raise SerializationError(
                    f"the result of job {job.id} ({job.fn}) cannot be stored: {exc}"
                ) from None
            cols["id"].append(job.id)
            cols["fence_worker"].append(fence)
            cols["attempts"].append(job.attempts)
            cols["state"].append(job.state.value)
            cols["scheduled_at"].append(job.scheduled_at)
            cols["started_at"].append(job.started_at)
            cols["completed_at"].append(job.completed_at)
            cols["worker_id"].append(job.worker_id)
            cols["lease_until"].append(job.lease_until)
            cols["result"].append(result)
            cols["result_bytes"].append(result_bytes)
            cols["error_type"].append(job.error_type)
            cols["error"].append(job.error)
            cols["errors"].append(json.dumps(list(job.errors)) if job.errors else _EMPTY_LIST)
        return _nulls_for_empty(cols)

    def _explain(self, job: Job) -> str:
        # Reuse the serializer's own check for the exact message (args vs kwargs).
        try:
            self.serializer.check(job.args, f"the arguments of job {job.id} ({job.fn})")
            self.serializer.check(job.kwargs, f"the keyword arguments of job {job.id} ({job.fn})")
            self.serializer.check(job.result, f"the result of job {job.id} ({job.fn})")
        except SerializationError as exc:
            return str(exc)
        return f"job {job.id} ({job.fn}) cannot be stored"

    def decode_job(self, row: Sequence[Any]) -> Job:
        """A `Job` from a row of `sql.JOB_COLUMNS` (trusted: built without validation)."""
        job_id = row[0]
        args, kwargs = self.decode(row[3], row[4], f"the arguments of job {job_id}")
        result = self.decode(row[22], row[23], f"the result of job {job_id}")
        return Job.model_construct(
            id=job_id,
            task_id=row[1],
            fn=row[2],
            args=tuple(args),
            kwargs=kwargs,
            executor=row[5],
            priority=row[6],
            state=_STATES[row[7]],
            attempts=row[8],
            max_attempts=row[9],
            max_instances=row[10],
            retry_on=tuple(row[11]),
            retry_backoff=row[12],
            retry_backoff_max=row[13],
            timeout=row[14],
            unique_key=row[15],
            scheduled_at=row[16],
            created_at=row[17],
            started_at=row[18],
            completed_at=row[19],
            worker_id=row[20],
            lease_until=row[21],
            result=result,
            error_type=row[24],
            error=row[25],
            errors=tuple(row[26]),
        )

    # ---- tasks -------------------------------------------------------------------------

    def task_params(self, task: Task) -> dict[str, Any]:
        """The parameters of `INSERT_TASK` / `UPSERT_TASK` / `UPDATE_TASK` for `task`."""
        try:
            arguments, arguments_bytes = self.encode((task.args, task.kwargs))
        except SerializationError:
            self.serializer.check(task.args, f"the arguments of task {task.id!r}")
            self.serializer.check(task.kwargs, f"the keyword arguments of task {task.id!r}")
            raise
        spec = task.model_dump(mode="json", exclude={"args", "kwargs", "next_run_time"})
        return {
            "id": task.id,
            "next_run_time": task.next_run_time,
            "spec": json.dumps(spec, separators=(",", ":")),
            "arguments": arguments,
            "arguments_bytes": arguments_bytes,
        }

    def decode_task(self, row: Sequence[Any]) -> Task:
        """A `Task` from a row of `sql.TASK_COLUMNS` (validated: rebuilds the trigger)."""
        args, kwargs = self.decode(row[3], row[4], f"the arguments of task {row[0]!r}")
        return Task.model_validate(
            {**row[2], "args": args, "kwargs": kwargs, "next_run_time": row[1]}
        )


def _nulls_for_empty(cols: dict[str, list[Any]]) -> dict[str, list[Any] | None]:
    # A column that is NULL for every row is sent as a NULL array: unnest pads it with NULLs,
    # and psycopg needs no element to guess the array's type from.
    return {
        name: None if all(v is None for v in values) else values for name, values in cols.items()
    }


_JOB_INSERT = (
    "id", "task_id", "fn", "arguments", "arguments_bytes", "executor", "priority", "state",
    "attempts", "max_attempts", "max_instances", "retry_on", "retry_backoff",
    "retry_backoff_max", "timeout", "unique_key", "scheduled_at", "created_at", "started_at",
    "completed_at", "worker_id", "lease_until", "result", "result_bytes", "error_type",
    "error", "errors",
)  # fmt: skip
_OUTCOME = (
    "id", "fence_worker", "attempts", "state", "scheduled_at", "started_at", "completed_at",
    "worker_id", "lease_until", "result", "result_bytes", "error_type", "error", "errors",
)  # fmt: skip
