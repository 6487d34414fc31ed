"""Turning `Job`s and `Task`s into statement parameters and database rows back into models.

Arguments and results go to `json` columns when the store serialises with JSON and to
`bytea` columns with any other serializer (pickle). A JSON store never loads the bytes: a row
written by a pickle store raises `SerializationError` there instead of running code.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from asyncz_queue.exceptions import SerializationError
from asyncz_queue.jobs import Job, JobState
from asyncz_queue.serializers import JSONSerializer, Serializer
from asyncz_queue.stores.postgres.sql import (
    JOB_COLUMNS,
    JOB_INPUT,
    NEW_JOB_INPUT,
    OUTCOME_INPUT,
)
from asyncz_queue.tasks import Task

_EMPTY_LIST = "[]"
_JOB_KINDS = dict(JOB_INPUT)
#: The columns of `sql.JOB_INPUT`, in order, and their types as a binary COPY names them.
JOB_NAMES = tuple(_JOB_KINDS)
COPY_TYPES = [{"int": "int4"}.get(kind, kind) for kind in _JOB_KINDS.values()]
#: The columns after `scheduled_at` and `created_at`: where a job is in its life.
_LIFE_NAMES = JOB_NAMES[JOB_NAMES.index("started_at") :]
#: The columns a new job on its own fills (see `sql.NEW_JOB_INPUT`, `Codec.new_job_row`).
NEW_JOB_NAMES = tuple(name for name, _ in NEW_JOB_INPUT)
NEW_JOB_COPY_TYPES = [COPY_TYPES[JOB_NAMES.index(name)] for name in NEW_JOB_NAMES]
_OUTCOME_KINDS = dict(OUTCOME_INPUT)
_STATES = {state.value: state for state in JobState}
#: The columns of a row `decode_job` reads (`sql.JOB_COLUMNS`).
_ROW_NAMES = tuple(JOB_COLUMNS.split(", "))
#: Characters a hand-over's job may take: a notification holds less than 8000 bytes, and
#: the message also names the worker (the statement checks the whole message's size).
HANDOFF_ROOM = 7000


class Codec:
    """Encodes and decodes with one store's serializer."""

    def __init__(self, serializer: Serializer) -> None:
        self.serializer = serializer
        #: JSON values are stored as JSON text (readable in SQL); others as bytes.
        self.json = isinstance(serializer, JSONSerializer)
        # The stock JSON serializer's exact output, without its bytes round trip (hot path).
        self._plain_json = type(serializer) is JSONSerializer

    # ---- values ------------------------------------------------------------------------

    def encode(self, value: Any) -> tuple[str | None, bytes | None]:
        """`(json_text, None)` for a JSON store, `(None, bytes)` otherwise."""
        data = self.serializer.dumps(value)
        if self.json:
            return data.decode(), None
        return None, data

    def decode(self, text: str | None, data: bytes | None, what: str) -> Any:
        """The value of a JSON text column, or of its `bytea` twin (never for a JSON store)."""
        if data is None:
            if text is None:
                return None
            if self.json and not self._plain_json:
                return self.serializer.loads(text.encode())
            return json.loads(text)  # JSON text is JSON, whichever store wrote it
        if self.json:
            raise SerializationError(
                f"{what} was stored by a store using another serializer (such as pickle); "
                "a JSON store never loads it — open the store with that serializer"
            )
        return self.serializer.loads(bytes(data))

    # ---- jobs --------------------------------------------------------------------------

    def _arguments(self, job: Job) -> tuple[str | None, bytes | None]:
        if self._plain_json:
            if not job.args and not job.kwargs:
                return _NO_ARGUMENTS, None
            try:
                return _json_encode((job.args, job.kwargs)), None
            except (TypeError, ValueError, RecursionError):
                raise SerializationError(self._explain(job)) from None
        try:
            return self.encode((job.args, job.kwargs))
        except SerializationError:
            raise SerializationError(self._explain(job)) from None

    def _result(self, job: Job) -> tuple[str | None, bytes | None]:
        if job.result is None:
            return None, None
        try:
            return self.encode(job.result)
        except SerializationError as exc:
            raise SerializationError(
                f"the result of job {job.id} ({job.fn}) cannot be stored: {exc}"
            ) from None

    def job_row(self, j: Job) -> tuple[Any, ...]:
        """The row of `sql.JOB_INPUT` for a job (for COPY); `SerializationError` (naming the
        job and which arguments) when it cannot be stored."""
        arguments, arguments_bytes = self._arguments(j)
        return (
            j.id, j.task_id, j.fn, arguments, arguments_bytes, j.executor, j.priority,
            j.state.value, j.attempts, j.max_attempts, j.max_instances,
            _json_list(j.retry_on), j.retry_backoff, j.retry_backoff_max, j.timeout,
            j.unique_key, j.scheduled_at, j.created_at, *self._life_row(j),
        )  # fmt: skip

    def new_job_row(self, j: Job) -> tuple[Any, ...]:
        """The row of `NEW_JOB_NAMES` for a new job on its own (for COPY: see `_plain` in
        the store), as `job_row` would write it."""
        arguments, arguments_bytes = self._arguments(j)
        return (
            j.id, j.fn, arguments, arguments_bytes, j.executor, j.priority, j.state.value,
            j.attempts, j.max_attempts, _json_list(j.retry_on), j.retry_backoff,
            j.retry_backoff_max, j.timeout, j.scheduled_at, j.created_at, _EMPTY_LIST,
        )  # fmt: skip

    def handoff(self, row: tuple[Any, ...]) -> str | None:
        """The `new_job_row` of a job as the text its hand-over to a worker carries (see
        `ADD_NEW_JOB`); None when it cannot go that way: arguments stored as bytes, or too
        big for a notification."""
        if row[3] is not None:  # arguments_bytes
            return None
        text = orjson.dumps(row).decode()
        return text if len(text) < HANDOFF_ROOM else None

    def decode_handoff(self, text: str) -> Job:
        """The pending job a hand-over carries (the inverse of `handoff`)."""
        values = dict(zip(NEW_JOB_NAMES, orjson.loads(text), strict=True))
        values["scheduled_at"] = datetime.fromisoformat(values["scheduled_at"])
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        return self.decode_job([values.get(name) for name in _ROW_NAMES])

    def job_columns(self, jobs: Sequence[Job]) -> dict[str, Any]:
        """The parameters of `sql.JOB_INPUT` for `jobs` (see `fold`); `SerializationError`
        (naming the job and which arguments) when one cannot be stored."""
        return fold(_columns(JOB_NAMES, [self.job_row(job) for job in jobs]), _JOB_KINDS)

    def outcome_columns(
        self, jobs: Sequence[Job], fence_workers: Sequence[str | None]
    ) -> dict[str, Any]:
        """The parameters of `sql.OUTCOME_INPUT`: what `COMPLETE_JOBS` writes, fenced by
        `fence_workers` and `job.attempts`."""
        return fold(
            {
                "id": [j.id for j in jobs],
                "fence_worker": list(fence_workers),
                "attempts": [j.attempts for j in jobs],
                "state": [j.state.value for j in jobs],
                **self._state_columns(jobs),
            },
            _OUTCOME_KINDS,
        )

    def _state_columns(self, jobs: Sequence[Job]) -> dict[str, list[Any]]:
        """The columns of where each job is in its life, shared by inserts and outcomes."""
        return {
            "scheduled_at": [job.scheduled_at for job in jobs],
            **_columns(_LIFE_NAMES, [self._life_row(job) for job in jobs]),
        }

    def _life_row(self, job: Job) -> tuple[Any, ...]:
        """Where `job` is in its life, in the order of `_LIFE_NAMES`."""
        result, result_bytes = self._result(job)
        return (
            job.started_at, job.completed_at, job.worker_id, job.lease_until, result,
            result_bytes, _text(job.error_type), _text(job.error), _json_list(job.errors),
        )  # fmt: skip

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
        """A `Job` from a row of `sql.JOB_COLUMNS` (trusted: built without validation).

        Raises when its arguments or result cannot be loaded (see `stand_in`).
        """
        job_id = row[0]
        args, kwargs = self.decode(row[3], row[4], f"the arguments of job {job_id}")
        result = self.decode(row[22], row[23], f"the result of job {job_id}")
        return self._job(row, tuple(args), kwargs, result)

    def stand_in(self, row: Sequence[Any]) -> Job:
        """The job of a row whose arguments or result cannot be loaded, without them: enough
        to record why it cannot run."""
        return self._job(row, (), {}, None)

    def _job(self, row: Sequence[Any], args: tuple[Any, ...], kwargs: Any, result: Any) -> Job:
        # Every field from the row, without validation (the row is ours): the hottest read path.
        return Job.build(
            {
                "id": row[0],
                "task_id": row[1],
                "fn": row[2],
                "args": args,
                "kwargs": kwargs,
                "executor": row[5],
                "priority": row[6],
                "state": _STATES[row[7]],
                "attempts": row[8],
                "max_attempts": row[9],
                "max_instances": row[10],
                "retry_on": _text_list(row[11]),
                "retry_backoff": row[12],
                "retry_backoff_max": row[13],
                "timeout": row[14],
                "unique_key": row[15],
                "scheduled_at": row[16],
                "created_at": row[17],
                "started_at": row[18],
                "completed_at": row[19],
                "worker_id": row[20],
                "lease_until": row[21],
                "result": result,
                "error_type": row[24],
                "error": row[25],
                "errors": _text_list(row[26]),
            }
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
        """A `Task` from a row of `sql_tasks.TASK_COLUMNS` (validated: rebuilds the trigger)."""
        args, kwargs = self.decode(row[3], row[4], f"the arguments of task {row[0]!r}")
        spec = json.loads(row[2])
        return Task.model_validate(
            {**spec, "args": args, "kwargs": kwargs, "next_run_time": row[1]}
        )


def _columns(names: Sequence[str], rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    """`rows` turned into one list per column, by name."""
    if not rows:
        return {name: [] for name in names}
    return dict(zip(names, map(list, zip(*rows, strict=True)), strict=True))


def fold(columns: dict[str, list[Any]], kinds: dict[str, str]) -> dict[str, Any]:
    """Parameters of a `sql.batch`: a column whose rows all hold one value goes, once, into
    the JSON object `k`; the others go as arrays. `id` is always an array, so unnest has a
    row per job. `kinds` are the columns' SQL types."""
    params: dict[str, Any] = {}
    shared: dict[str, Any] = {}
    if not columns["id"]:  # no rows: empty arrays, nothing shared
        return dict.fromkeys(columns) | {"id": [], "k": "{}"}
    for name, values in columns.items():
        first = values[0]
        if name == "id" or values.count(first) != len(values) or _not_json(first):
            params[name] = values
            continue
        params[name] = None
        if first is not None:
            shared[name] = f"\\x{first.hex()}" if kinds[name] == "bytea" else first
    params["k"] = _json_object(shared)
    return params


def _not_json(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _json_object(values: dict[str, Any]) -> str:
    """`values` as a JSON object: datetimes in ISO 8601, as `json_to_record` reads them."""
    try:
        return orjson.dumps(values).decode()
    except TypeError:  # integers past 64 bits: the database refuses them with a clear error
        return json.dumps(values, default=lambda value: value.isoformat())


def _text(value: str | None) -> str | None:
    """An exception's text, storable: NUL characters and lone surrogates (undecodable
    bytes) become escapes instead of failing the whole write, since PostgreSQL text holds
    neither."""
    if value is None:
        return value
    if "\x00" in value:
        value = value.replace("\x00", "\\x00")
    if value.isascii():
        return value
    try:
        value.encode()
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode()
    return value


def _text_list(text: str) -> tuple[str, ...]:
    return () if text == _EMPTY_LIST else tuple(json.loads(text))


def _json_list(values: tuple[str, ...]) -> str:
    return json.dumps(list(values)) if values else _EMPTY_LIST


def _refuse(value: Any) -> Any:
    raise TypeError(f"object of type {type(value).__qualname__} is not JSON serializable")


_json_encode = json.JSONEncoder(separators=(",", ":"), default=_refuse).encode
_NO_ARGUMENTS = "[[],{}]"
