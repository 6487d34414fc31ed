"""Plugins by alias: built-ins, registered classes, config dicts and option errors."""

from __future__ import annotations

from typing import Any

import pytest

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import ConfigurationError, UnknownAliasError
from asyncz_queue.executors import BaseExecutor, register_executor
from asyncz_queue.jobs import Job
from asyncz_queue.stores import MemoryStore, register_store


class EchoExecutor(BaseExecutor):
    """Returns the job's arguments instead of calling anything."""

    async def run_job(self, job: Job) -> Any:
        return list(job.args)


class TaggedStore(MemoryStore):
    """A memory store that remembers a tag (to see options arrive)."""

    def __init__(self, tag: str = "", **options: Any) -> None:
        super().__init__(**options)
        self.tag = tag


def test_registered_executor_is_built_by_alias_with_options() -> None:
    register_executor("echo", EchoExecutor)
    register_executor("echo-by-path", f"{__name__}:EchoExecutor")
    scheduler = AsyncIOScheduler(
        executors={"a": {"type": "echo", "max_workers": 3}, "b": {"type": "echo-by-path"}}
    )
    assert isinstance(scheduler.executors["a"], EchoExecutor)
    assert scheduler.executors["a"].max_workers == 3
    assert isinstance(scheduler.executors["b"], EchoExecutor)


def test_registered_store_is_built_by_alias_or_class_path() -> None:
    register_store("tagged", TaggedStore)
    scheduler = AsyncIOScheduler(
        stores={
            "default": {"type": "tagged", "tag": "x"},
            "other": {"class": f"{__name__}:TaggedStore", "tag": "y"},
        }
    )
    assert [s.tag for s in scheduler.stores.values()] == ["x", "y"]  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_custom_executor_runs_jobs() -> None:
    async with AsyncIOScheduler(executors={"default": EchoExecutor()}) as scheduler:
        ref = await scheduler.push(Job.from_func("tests.schedulers.funcs:add", args=[1, 2]))
        assert await ref.result(timeout=5) == [1, 2]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"type": "asyncio", "max_workers": 0}, r"executor 'cpu'.*'max_workers'.*0"),
        ({"type": "asyncio", "timeout": -1}, r"executor 'cpu'.*'timeout'.*-1"),
        ({"type": "asyncio", "colour": "red"}, r"executor 'cpu'.*colour"),
        ({"max_workers": 2}, r"executor 'cpu'.*'type' or 'class'"),
        ({"class": "tests.test_plugins:TaggedStore"}, r"not a subclass of BaseExecutor"),
    ],
)
def test_bad_executor_options_name_the_executor_and_option(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AsyncIOScheduler(executors={"cpu": config})


def test_unknown_alias_lists_the_known_ones() -> None:
    with pytest.raises(UnknownAliasError) as info:
        AsyncIOScheduler(executors={"default": {"type": "gpu"}})
    assert info.value.alias == "gpu"
    assert {"asyncio", "debug", "threadpool", "processpool"} <= set(info.value.known)


def test_bad_scheduler_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="role 'boss'"):
        AsyncIOScheduler(role="boss")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Mars/Olympus"):
        AsyncIOScheduler(timezone="Mars/Olympus")
    with pytest.raises(ConfigurationError, match="max_instancez"):
        AsyncIOScheduler(task_defaults={"max_instancez": 2})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # A lease of 0 s runs out at once: every running job would be rescued and run again.
        ({"lease_seconds": 0}, "'lease_seconds' must be a finite number of seconds > 0 .* got 0"),
        ({"lease_seconds": -1.5}, "'lease_seconds' .* got -1.5"),
        ({"lease_seconds": float("inf")}, "'lease_seconds' .* got inf"),
        # Now plus this many seconds is no date: every loop would fail on every round.
        ({"lease_seconds": 1e12}, "'lease_seconds' .* at most 315360000 .* got 1000000000000.0"),
        ({"lease_seconds": True}, "'lease_seconds' .* got True"),
        ({"lease_seconds": "30"}, "'lease_seconds' .* got '30'"),
        ({"job_retention": -5}, "'job_retention' must be .* >= 0 .* or None, got -5"),
        ({"job_retention": 10**12}, "'job_retention' .* at most 315360000 .* got 1000000000000"),
        ({"task_defaults": {"max_instances": 0}}, "'max_instances' is invalid: .*got 0"),
        ({"task_defaults": {"timeout": -1.0}}, "'timeout' is invalid: .*got -1.0"),
        ({"task_defaults": {"coalesce": "maybe"}}, "'coalesce' is invalid: .*got 'maybe'"),
    ],
)
def test_bad_timing_options_and_task_defaults_are_refused_at_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AsyncIOScheduler(**options)


def test_good_timing_options_are_kept() -> None:
    scheduler = AsyncIOScheduler(
        lease_seconds=2, job_retention=0, task_defaults={"max_instances": 3}
    )
    assert (scheduler.lease_seconds, scheduler.job_retention) == (2, 0)
    assert scheduler.task_defaults["max_instances"] == 3
    assert AsyncIOScheduler(job_retention=None).job_retention is None
