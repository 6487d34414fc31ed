"""Arguments no store should choke on: huge, deeply nested, not UTF-8, SQL-shaped.

Each case runs against both stores (the `store` fixture: memory, then PostgreSQL).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

import pytest

from asyncz_queue.exceptions import ConflictIdError, SerializationError
from asyncz_queue.jobs import Job, JobError, JobState
from asyncz_queue.serializers import JSONSerializer
from asyncz_queue.stores.base import BaseStore
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import IntervalTrigger
from tests.badinput.helpers import deep_list, running_scheduler

pytestmark = pytest.mark.anyio

FN = "tests.badinput.funcs:echo"
T0 = datetime(2030, 1, 1, tzinfo=UTC)
TEN_MB = 10 * 1024 * 1024

#: Ids and keys that break string-built SQL, format strings or naive quoting.
NASTY = [
    "x'); DROP TABLE jobs; --",
    "quoted \"id\" with 'both' quotes",
    "semi;colon; SELECT pg_sleep(10);",
    "$$ dollar $$ $tag$",
    "%s %(id)s {schema} {} %%",
    "back\\slash \\x00 \\' \\\"",
    "1 OR 1=1",
    "tab\tnew\nline\r",
    "ünïcødé ✓ 🚀 \u202e",
    " leading and trailing spaces ",
]


def job(**options: object) -> Job:
    options.setdefault("scheduled_at", T0)
    return Job.from_func(FN, **options)  # type: ignore[arg-type]


async def test_ten_megabyte_argument_is_stored_and_read_back(store: BaseStore) -> None:
    big = "ab" * (TEN_MB // 2)
    [stored] = await store.add_jobs([job(args=(big,), kwargs={"also": big[:1000]})])
    again = await store.get_job(stored.id)
    assert again.args == (big,)
    assert again.kwargs == {"also": big[:1000]}
    acquired = await store.acquire_jobs("w", {"default": 1}, T0, 30)
    assert [j.args[0] == big for j in acquired.jobs] == [True]


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_ten_megabyte_result_is_stored_and_its_event_is_bounded(
    kind: str, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    big = "r" * TEN_MB
    async with running_scheduler(kind, dsn) as scheduler:
        events = []
        scheduler.add_listener(events.append)
        ref = await scheduler.push(FN, big)
        finished = await ref.wait(timeout=30)
        assert finished.state is JobState.SUCCEEDED
        assert finished.result == big
        assert (await scheduler.get_job(ref.job_id)).result == big
        assert scheduler.running


async def test_deeply_nested_argument_is_refused_with_serialization_error(
    store: BaseStore,
) -> None:
    with pytest.raises(SerializationError):
        await store.add_jobs([job(args=(deep_list(10_000),))])
    assert await store.get_jobs() == []


def test_deeply_nested_value_is_a_serialization_error_in_the_serializer() -> None:
    # The layer below the store, and a depth JSON handles (so the case above is about depth).
    assert JSONSerializer().loads(JSONSerializer().dumps(deep_list(100))) == deep_list(100)
    with pytest.raises((SerializationError, RecursionError)):
        JSONSerializer().dumps(deep_list(10_000))


@pytest.mark.parametrize(
    "value", [b"\xff\xfe\x00 not utf-8", bytearray(b"\xc3\x28"), memoryview(b"\x80")]
)
async def test_bytes_argument_is_refused_by_json_naming_the_type(
    store: BaseStore, value: object
) -> None:
    with pytest.raises(SerializationError, match=type(value).__name__) as caught:
        await store.add_jobs([job(args=(value,))])
    assert "serializer='pickle'" in str(caught.value)
    assert await store.get_jobs() == []


async def test_lone_surrogate_text_round_trips(store: BaseStore) -> None:
    # What undecodable bytes become with errors="surrogateescape": JSON escapes them.
    text = b"caf\xe9 \xff".decode("utf-8", errors="surrogateescape")
    [stored] = await store.add_jobs([job(args=(text,), kwargs={text: text})])
    again = await store.get_job(stored.id)
    assert again.args == (text,)
    assert again.kwargs == {text: text}


@pytest.mark.parametrize("nasty", NASTY)
async def test_sql_shaped_task_id_is_stored_and_read_back_verbatim(
    store: BaseStore, nasty: str
) -> None:
    task = Task(
        id=nasty, name=nasty, fn=FN, args=(nasty,), kwargs={nasty: nasty},
        trigger=IntervalTrigger(seconds=10, start_at=T0), next_run_time=T0,
    )  # fmt: skip
    await store.add_task(task)
    assert (await store.get_task(nasty)).model_dump() == task.model_dump()
    assert [t.id for t in await store.get_tasks()] == [nasty]
    with pytest.raises(ConflictIdError):
        await store.add_task(task)
    [leased] = await store.acquire_tasks("s", T0, 10, 30)
    assert leased.id == nasty
    await store.delete_task(nasty)
    assert await store.get_tasks() == []


@pytest.mark.parametrize("nasty", NASTY)
async def test_sql_shaped_unique_key_and_job_id_are_stored_and_read_back_verbatim(
    store: BaseStore, nasty: str
) -> None:
    first = job(unique_key=nasty).evolve(id=f"{nasty}#1")
    [stored] = await store.add_jobs([first])
    assert stored.id == f"{nasty}#1"
    again = await store.get_job(f"{nasty}#1")
    assert again.unique_key == nasty
    # The key is held: a second job with it gets the first one back, and nothing else is hit.
    [held] = await store.add_jobs([job(unique_key=nasty)])
    assert held.id == f"{nasty}#1"
    [other] = await store.add_jobs([job(unique_key=nasty + "'")])
    assert other.id != f"{nasty}#1"
    assert len(await store.get_jobs()) == 2


async def test_nul_character_in_an_id_is_round_tripped_or_refused_clearly(
    store: BaseStore,
) -> None:
    # PostgreSQL text cannot hold NUL; whatever a store does, it must not be a raw driver error.
    try:
        [stored] = await store.add_jobs([job().evolve(id="nul\x00id")])
    except ValueError as exc:
        assert "NUL" in str(exc) or "\\x00" in str(exc) or "0x00" in str(exc)
    else:
        assert (await store.get_job("nul\x00id")).id == stored.id


async def test_a_failure_whose_text_holds_nul_characters_is_written(store: BaseStore) -> None:
    # PostgreSQL text cannot hold NUL: the store escapes it instead of refusing the outcome
    # (refused, it used to hold up every other outcome of the worker's batch).
    pushed = job()
    await store.add_jobs([pushed])
    [running] = (await store.acquire_jobs("w", {"default": 1}, T0, 30)).jobs
    error = JobError("bad\x00Type", "bad byte \x00 here", "Traceback \x00 (most recent call)")
    assert len(await store.complete_jobs("w", [running.after_failure(error, T0)])) == 1
    stored = await store.get_job(pushed.id)
    assert stored.state is JobState.FAILED
    assert stored.error is not None and stored.error.startswith("bad byte ")
    assert stored.error.endswith(" here") and stored.error_type is not None
    assert stored.errors == ("Traceback \x00 (most recent call)",)  # JSON holds NUL


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_job_failing_with_nul_in_its_message_holds_up_no_other_outcome(
    kind: str, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    async with running_scheduler(kind, dsn) as scheduler:
        bad = await scheduler.push("tests.badinput.funcs:raise_with_nul")
        good = await scheduler.push(FN, "fine")
        assert await good.result(timeout=10) == "fine"
        failed = await bad.wait(timeout=10)
        assert failed.state is JobState.FAILED
        assert failed.error_type == "tests.badinput.funcs.NulError"
        assert failed.error is not None and "in the middle" in failed.error


@pytest.mark.parametrize("field", ["id", "task_id", "unique_key"])
def test_a_job_key_holding_nul_is_refused_by_every_store_alike(field: str) -> None:
    # Refused when the job is made, naming the field: not by PostgreSQL only, at the push.
    with pytest.raises(ValueError, match=f"(?s){field}.*NUL character"):
        Job.model_validate({"fn": FN, field: "nul\x00key"})
    if field == "unique_key":
        with pytest.raises(ValueError, match=r"(?s)unique_key.*NUL character"):
            job(unique_key="nul\x00key")


def test_a_task_id_holding_nul_is_refused() -> None:
    with pytest.raises(ValueError, match=r"(?s)id.*NUL character"):
        Task(id="nul\x00id", fn=FN, trigger=IntervalTrigger(seconds=10, start_at=T0))


#: Values JSON does not give back as they were: a nested tuple, a key that is not a string.
NOT_EXACT_ARGS = ((1, 2), {1: "a"})
NOT_EXACT_KWARGS = {"pair": (3, 4)}
#: What every store gives back for them (a database keeps the JSON).
AS_STORED_ARGS = ([1, 2], {"1": "a"})
AS_STORED_KWARGS = {"pair": [3, 4]}


async def test_every_store_gives_arguments_back_as_json_does(store: BaseStore) -> None:
    pushed = job(args=NOT_EXACT_ARGS, kwargs=NOT_EXACT_KWARGS)
    [returned] = await store.add_jobs([pushed])
    assert returned is pushed  # the caller's own job comes back from the push itself
    stored = await store.get_job(pushed.id)
    assert (stored.args, stored.kwargs) == (AS_STORED_ARGS, AS_STORED_KWARGS)
    [running] = (await store.acquire_jobs("w", {"default": 1}, T0, 30)).jobs
    assert (running.args, running.kwargs) == (AS_STORED_ARGS, AS_STORED_KWARGS)
    trigger = IntervalTrigger(seconds=10, start_at=T0)
    await store.add_task(
        Task(id="t", fn=FN, trigger=trigger, args=NOT_EXACT_ARGS, kwargs=NOT_EXACT_KWARGS)
    )
    task = await store.get_task("t")
    assert (task.args, task.kwargs) == (AS_STORED_ARGS, AS_STORED_KWARGS)


class Colour(enum.IntEnum):
    RED = 1


async def test_arguments_changed_by_the_caller_after_the_push_stay_as_pushed(
    store: BaseStore,
) -> None:
    rows, config = [1, 2, 3], {"limit": 10}
    pushed = job(args=(rows, Colour.RED), kwargs={"config": config})
    trigger = IntervalTrigger(seconds=10, start_at=T0)
    await store.add_jobs([pushed])
    await store.add_task(Task(id="t", fn=FN, trigger=trigger, args=(rows,), kwargs={"c": config}))
    rows.clear()  # a buffer the caller reuses for the next push
    config["limit"] = 99
    stored = await store.get_job(pushed.id)
    assert stored.args == ([1, 2, 3], 1) and stored.kwargs == {"config": {"limit": 10}}
    assert type(stored.args[1]) is int  # JSON keeps an enum's value, not the enum
    task = await store.get_task("t")
    assert (task.args, task.kwargs) == (([1, 2, 3],), {"c": {"limit": 10}})


@pytest.mark.parametrize("kind", ["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_every_store_gives_a_result_back_as_json_does(
    kind: str, request: pytest.FixtureRequest
) -> None:
    dsn = request.getfixturevalue("postgres_dsn") if kind == "postgres" else None
    async with running_scheduler(kind, dsn) as scheduler:
        ref = await scheduler.push(FN, NOT_EXACT_ARGS)
        # In the process that ran it, as in any other: what the store gives back.
        assert await ref.result(timeout=10) == list(AS_STORED_ARGS)
        assert (await scheduler.get_job(ref.job_id)).result == list(AS_STORED_ARGS)


@pytest.mark.parametrize("field", ["priority", "max_attempts"])
@pytest.mark.parametrize("value", [2**31, 2**40])
def test_a_count_or_priority_past_32_bits_is_refused_naming_the_field(
    field: str, value: int
) -> None:
    # A database keeps them in 32-bit columns; a bulk COPY would silently wrap the rest.
    with pytest.raises(ValueError, match=field):
        job(**{field: value})
    with pytest.raises(ValueError, match=field):
        getattr(job(), f"with_{field}")(value)
    with pytest.raises(ValueError, match=field):
        Task(id="t", fn=FN, trigger=IntervalTrigger(seconds=1), **{field: value})
    with pytest.raises(ValueError, match="max_instances"):
        Task(id="t", fn=FN, trigger=IntervalTrigger(seconds=1), max_instances=value)


async def test_the_32_bit_bounds_are_stored_exactly_one_by_one_and_in_bulk(
    store: BaseStore,
) -> None:
    low, high = -(2**31), 2**31 - 1
    extremes = [job(priority=low, max_attempts=high), job(priority=high, max_attempts=1)]
    bulk = [job(priority=(low, high)[i % 2], max_attempts=high) for i in range(250)]
    for jobs in ([extremes[0]], [extremes[1]], bulk):
        await store.add_jobs(jobs)
        for original in jobs:
            stored = await store.get_job(original.id)
            assert (stored.priority, stored.max_attempts) == (
                original.priority,
                original.max_attempts,
            )


@pytest.mark.parametrize("field", ["id", "unique_key"])
def test_an_id_or_unique_key_past_512_characters_is_refused_naming_the_field(field: str) -> None:
    # PostgreSQL indexes them: a longer one could not be stored there.
    made = Job.from_func(FN).model_dump()
    with pytest.raises(ValueError, match=field):
        Job.model_validate({**made, field: "k" * 513})
    if field == "unique_key":
        with pytest.raises(ValueError, match=field):
            job(unique_key="k" * 513)
    assert getattr(Job.model_validate({**made, field: "k" * 512}), field) == "k" * 512
    with pytest.raises(ValueError, match="id"):
        Task(id="t" * 513, fn=FN, trigger=IntervalTrigger(seconds=1))
