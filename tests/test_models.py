"""Task and Job models: immutability, validation, JSON round trips, fire planning."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from asyncz_queue import Job, JobState, Task
from asyncz_queue.jobs import MAX_BACKOFF, JobError, new_id
from asyncz_queue.tasks import plan_fire
from asyncz_queue.triggers import DateTrigger, IntervalTrigger

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FN = "tests.schedulers.funcs:add"


def interval_task(**options: object) -> Task:
    trigger = IntervalTrigger(seconds=10, start_at=T0)
    return Task(id="t", fn=FN, trigger=trigger, next_run_time=T0, **options)


def test_job_is_immutable_and_with_methods_return_copies() -> None:
    job = Job.from_func(FN, args=[1, 2])
    with pytest.raises(ValidationError):
        job.priority = 5  # type: ignore[misc]
    later = T0 + timedelta(hours=1)
    changed = (
        job.with_priority(-3)
        .with_max_attempts(4)
        .with_scheduled_at(later)
        .with_executor("cpu")
        .with_unique_key("k")
        .with_timeout(2.5)
    )
    assert (job.priority, job.max_attempts, job.executor) == (0, 1, "default")
    assert (changed.priority, changed.max_attempts, changed.scheduled_at) == (-3, 4, later)
    assert (changed.executor, changed.unique_key, changed.timeout) == ("cpu", "k", 2.5)
    assert changed.id == job.id


def test_pydantic_copies_of_a_job_work_and_leave_the_job_alone() -> None:
    job = Job.from_func(FN)
    changed = job.model_copy(update={"priority": 3})
    assert (changed.priority, job.priority) == (3, 0)
    assert job.model_copy(deep=True) == job
    assert Job.from_func(FN).model_fields_set == set(Job.model_fields)


def test_job_and_task_round_trip_through_json_exactly() -> None:
    job = Job.from_func(
        FN,
        args=[1, 2],
        kwargs={"x": [1, {"y": None}]},
        priority=3,
        unique_key="u",
        retry_on=[ValueError],
    )
    assert Job.model_validate_json(job.model_dump_json()) == job
    task = interval_task(name="n", args=(1, 2), priority=2)
    assert Task.model_validate_json(task.model_dump_json()) == task


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout": -1}, "timeout"),
        ({"scheduled_at": datetime(2026, 1, 1)}, "has no timezone"),
    ],
)
def test_job_refuses_bad_options(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Job.from_func(FN, **change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {},  # built without pydantic: every value is of its field's type already
        {"args": [1], "kwargs": {"k": "v"}, "timeout": 2.5, "unique_key": "u", "priority": -1},
        {"timeout": 2, "priority": "3", "retry_backoff": 1},  # converted by validation
    ],
)
def test_from_func_builds_the_job_validation_would(options: dict[str, object]) -> None:
    job = Job.from_func(FN, scheduled_at=T0, **options)  # type: ignore[arg-type]
    validated = Job.model_validate(job.model_dump())
    assert validated == job
    assert list(job.__dict__) == list(validated.__dict__)  # dumps in the same field order
    assert type(job.priority) is int and type(job.retry_backoff) is float
    assert job.timeout is None or type(job.timeout) is float


def test_from_func_refuses_keyword_arguments_that_are_not_strings() -> None:
    with pytest.raises(ValidationError, match="kwargs"):
        Job.from_func(FN, kwargs={1: "one"})  # type: ignore[dict-item]


def test_job_ids_are_distinct_version_4_uuids_and_a_forked_child_makes_others() -> None:
    ids = [Job.from_func(FN).id for _ in range(1000)]
    assert len(set(ids)) == 1000
    for job_id in ids:
        parsed = uuid.UUID(job_id)
        assert (str(parsed), parsed.version, parsed.variant) == (job_id, 4, uuid.RFC_4122)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave without running pytest's exit
        os.write(write_end, new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read_end, 100).decode()
    os.close(read_end)
    os.close(write_end)
    parent_id = new_id()
    assert uuid.UUID(child_id).version == 4
    # A child that kept its parent's random state would repeat the parent's next id.
    assert child_id[:24] != parent_id[:24]


def test_retry_on_limits_which_errors_are_retried() -> None:
    job = Job.from_func(FN, max_attempts=3, retry_on=[KeyError]).evolve(attempts=1)
    assert job.should_retry(JobError.from_exception(KeyError("k")))
    assert not job.should_retry(JobError.from_exception(ValueError("v")))
    assert not job.evolve(attempts=3).should_retry(JobError.from_exception(KeyError("k")))
    plain = Job.from_func(FN, max_attempts=3).evolve(attempts=1)
    assert plain.should_retry(JobError.from_exception(ValueError("v")))
    assert not plain.should_retry(JobError.from_exception(SystemExit(1)))


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    job = Job.from_func(FN, max_attempts=10, retry_backoff=1.0, retry_backoff_max=5.0)
    for attempts, cap in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delays = [job.evolve(attempts=attempts).retry_delay() for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= cap
        assert max(delays) > cap / 2  # really spread over the range


def test_the_backoff_of_a_late_attempt_and_the_longest_backoff_still_give_a_date() -> None:
    # 2 ** 1500 is no float, and ten years past a failure is still a datetime.
    error = JobError.from_exception(ValueError("again"))
    late = Job.from_func(FN, max_attempts=5000, retry_backoff=1.0, retry_backoff_max=60.0)
    assert 0 <= late.evolve(attempts=1500).retry_delay() <= 60.0
    longest = Job.from_func(
        FN, max_attempts=3, retry_backoff=MAX_BACKOFF, retry_backoff_max=MAX_BACKOFF
    ).evolve(attempts=2, state=JobState.RUNNING)
    retrying = longest.after_failure(error, T0)
    assert T0 <= retrying.scheduled_at <= T0 + timedelta(seconds=MAX_BACKOFF)


@pytest.mark.parametrize("field", ["retry_backoff", "retry_backoff_max"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), MAX_BACKOFF * 2, -1.0])
def test_a_backoff_that_could_not_give_a_date_is_refused_naming_the_field(
    field: str, value: float
) -> None:
    with pytest.raises(ValueError, match=field):
        Job.from_func(FN, **{field: value})
    with pytest.raises(ValueError, match=field):
        Task(id="t", fn=FN, trigger=IntervalTrigger(seconds=1), **{field: value})


def test_after_failure_retries_then_fails() -> None:
    job = Job.from_func(FN, max_attempts=2, retry_backoff=0).evolve(
        attempts=1, state=JobState.RUNNING
    )
    error = JobError.from_exception(ValueError("first"))
    retrying = job.after_failure(error, T0)
    assert retrying.state is JobState.RETRYING and retrying.scheduled_at == T0
    failed = retrying.evolve(attempts=2).after_failure(JobError.from_exception(ValueError("x")), T0)
    assert failed.state is JobState.FAILED and failed.completed_at == T0
    assert len(failed.errors) == 2 and failed.error == "x" and failed.error_type == "ValueError"


# ---- fire planning: explicit `now`, no clock -----------------------------------------------


def test_fire_on_time_runs_once_and_advances() -> None:
    plan = plan_fire(interval_task(), T0, UTC)
    assert plan.run_times == [T0]
    assert plan.missed == []
    assert plan.next_run_time == T0 + timedelta(seconds=10)


def test_coalesce_collapses_due_run_times_into_the_latest() -> None:
    now = T0 + timedelta(seconds=35)
    plan = plan_fire(interval_task(coalesce=True, mistrigger_grace_time=None), now, UTC)
    assert plan.run_times == [T0 + timedelta(seconds=30)]
    assert plan.next_run_time == T0 + timedelta(seconds=40)


def test_without_coalesce_every_due_run_time_runs() -> None:
    now = T0 + timedelta(seconds=25)
    plan = plan_fire(interval_task(coalesce=False, mistrigger_grace_time=None), now, UTC)
    assert plan.run_times == [T0 + timedelta(seconds=s) for s in (0, 10, 20)]


def test_run_times_older_than_the_grace_time_are_missed() -> None:
    now = T0 + timedelta(seconds=25)
    plan = plan_fire(interval_task(coalesce=False, mistrigger_grace_time=7), now, UTC)
    assert plan.missed == [T0, T0 + timedelta(seconds=10)]
    assert plan.run_times == [T0 + timedelta(seconds=20)]
    coalesced = plan_fire(interval_task(coalesce=True, mistrigger_grace_time=2), now, UTC)
    assert coalesced.missed == [T0 + timedelta(seconds=20)] and coalesced.run_times == []


def test_a_finished_trigger_gives_no_next_run_time() -> None:
    task = Task(id="d", fn=FN, trigger=DateTrigger(run_at=T0), next_run_time=T0)
    plan = plan_fire(task, T0 + timedelta(seconds=0.5), UTC)
    assert plan.run_times == [T0] and plan.next_run_time is None


def test_a_single_late_run_time_past_the_grace_time_is_missed() -> None:
    task = Task(
        id="d", fn=FN, trigger=DateTrigger(run_at=T0), next_run_time=T0, mistrigger_grace_time=1
    )
    plan = plan_fire(task, T0 + timedelta(seconds=5), UTC)
    assert plan.missed == [T0] and plan.run_times == [] and plan.next_run_time is None


def test_a_task_not_due_yet_fires_nothing_and_keeps_its_time() -> None:
    plan = plan_fire(interval_task(), T0 - timedelta(seconds=1), UTC)
    assert plan.run_times == [] and plan.missed == [] and plan.next_run_time == T0


def test_long_outage_with_tiny_interval_does_not_walk_every_run_time() -> None:
    task = Task(
        id="fast",
        fn=FN,
        trigger=IntervalTrigger(seconds=0.01, start_at=T0),
        next_run_time=T0,
        mistrigger_grace_time=None,
    )
    now = T0 + timedelta(days=2)
    plan = plan_fire(task, now, UTC)
    assert len(plan.run_times) == 1
    assert plan.next_run_time is not None and now < plan.next_run_time <= now + timedelta(
        seconds=0.01
    )


def test_a_coalesced_task_runs_once_after_an_outage_longer_than_the_catch_up() -> None:
    # 2,000 run times were due: the walk stops at 1,000, but the latest one is on time.
    trigger = IntervalTrigger(seconds=1, start_at=T0)
    task = Task(id="t", fn=FN, trigger=trigger, next_run_time=T0, mistrigger_grace_time=1)
    now = T0 + timedelta(seconds=2000)
    plan = plan_fire(task, now, UTC)
    assert plan.run_times == [now]
    assert plan.missed == [] and plan.next_run_time == now + timedelta(seconds=1)


def test_not_yet_due_task_fires_nothing() -> None:
    plan = plan_fire(interval_task(), T0 - timedelta(seconds=1), UTC)
    assert plan.run_times == [] and plan.next_run_time == T0
