"""The store contract for tasks (`BaseStore`), run against every store: memory and PostgreSQL.

Time is passed in explicitly (`T0` and offsets from it): nothing here sleeps.
"""

from __future__ import annotations

import pytest

from asyncz_queue.exceptions import ConflictIdError, SerializationError, TaskLookupError
from asyncz_queue.jobs import JobError, JobState
from asyncz_queue.stores.base import BaseStore, FireResult
from asyncz_queue.triggers import CronTrigger
from tests.stores.contract import (
    LEASE,
    T0,
    at,
    dump,
    task,
)

pytestmark = pytest.mark.anyio


# ---- tasks ---------------------------------------------------------------------------


async def test_add_task_then_get_task_returns_it_unchanged(store: BaseStore) -> None:
    original = task(
        args=(1, "two", [3.5]),
        kwargs={"b": {"nested": True}, "a": None},
        trigger=CronTrigger(minute="*/5", timezone="Europe/Paris"),
        name="every five",
        max_instances=3,
        priority=-2,
        max_attempts=4,
        retry_on=("ValueError",),
        timeout=2.5,
    )
    await store.add_task(original)
    assert dump(await store.get_task("t")) == dump(original)


async def test_add_task_with_a_taken_id_raises_conflict(store: BaseStore) -> None:
    await store.add_task(task(args=(1,)))
    with pytest.raises(ConflictIdError):
        await store.add_task(task(args=(2,)))
    assert (await store.get_task("t")).args == (1,)


async def test_add_task_replace_existing_replaces_it(store: BaseStore) -> None:
    await store.add_task(task(args=(1,)))
    await store.add_task(task(args=(2,), next_run_time=at(5)), replace_existing=True)
    stored = await store.get_task("t")
    assert stored.args == (2,) and stored.next_run_time == at(5)


async def test_add_task_refuses_arguments_the_serializer_cannot_store(store: BaseStore) -> None:
    with pytest.raises(SerializationError, match="arguments of task 't'"):
        await store.add_task(task(args=(object(),)))
    with pytest.raises(TaskLookupError):
        await store.get_task("t")


async def test_update_task_replaces_the_stored_task(store: BaseStore) -> None:
    await store.add_task(task())
    await store.update_task(task(next_run_time=None, name="paused"))
    stored = await store.get_task("t")
    assert stored.paused and stored.name == "paused"


async def test_unknown_task_ids_raise_task_lookup_error(store: BaseStore) -> None:
    with pytest.raises(TaskLookupError):
        await store.get_task("nope")
    with pytest.raises(TaskLookupError):
        await store.update_task(task("nope"))
    with pytest.raises(TaskLookupError):
        await store.delete_task("nope")


async def test_get_tasks_orders_by_next_run_time_with_paused_last_then_id(
    store: BaseStore,
) -> None:
    for task_id, when in [("b", at(5)), ("p2", None), ("a", at(5)), ("c", at(1)), ("p1", None)]:
        await store.add_task(task(task_id, when))
    assert [t.id for t in await store.get_tasks()] == ["c", "a", "b", "p1", "p2"]


async def test_delete_task_keeps_its_jobs(store: BaseStore) -> None:
    await store.add_task(task())
    [acquired] = await store.acquire_tasks("s1", T0, 10, LEASE)
    [fired] = await store.release_tasks(
        "s1", [FireResult(acquired, [acquired.job_for(T0, T0)], at(10))]
    )
    await store.delete_task("t")
    assert await store.get_tasks() == []
    assert (await store.get_job(fired.id)).task_id == "t"


async def test_remove_all_tasks_deletes_every_task(store: BaseStore) -> None:
    await store.add_task(task("a"))
    await store.add_task(task("b"))
    await store.remove_all_tasks()
    assert await store.get_tasks() == []
    assert await store.get_next_run_time() is None


async def test_get_next_run_time_is_the_earliest_unpaused_task(store: BaseStore) -> None:
    assert await store.get_next_run_time() is None
    await store.add_task(task("paused", None))
    assert await store.get_next_run_time() is None
    await store.add_task(task("late", at(60)))
    await store.add_task(task("early", at(30)))
    assert await store.get_next_run_time() == at(30)


async def test_acquire_tasks_returns_only_due_tasks_up_to_the_limit(store: BaseStore) -> None:
    for i in range(4):
        await store.add_task(task(f"t{i}", at(i)))
    await store.add_task(task("paused", None))
    acquired = await store.acquire_tasks("s1", at(2), 2, LEASE)
    assert [t.id for t in acquired] == ["t0", "t1"]
    assert [t.id for t in await store.acquire_tasks("s2", at(2), 10, LEASE)] == ["t2"]


async def test_a_leased_task_is_not_acquired_by_another_scheduler_until_the_lease_ends(
    store: BaseStore,
) -> None:
    await store.add_task(task())
    assert len(await store.acquire_tasks("s1", T0, 10, LEASE)) == 1
    assert await store.acquire_tasks("s2", at(LEASE - 1), 10, LEASE) == []
    assert len(await store.acquire_tasks("s2", at(LEASE + 1), 10, LEASE)) == 1


async def test_a_scheduler_takes_back_at_once_a_lease_of_its_own_never_released(
    store: BaseStore,
) -> None:
    # Its fire was cut off before the release (or the lease's reply was lost, and the
    # statement retried): waiting for the lease to end would fire late, or miss the time.
    await store.add_task(task())
    assert len(await store.acquire_tasks("s1", T0, 10, LEASE)) == 1
    assert await store.acquire_tasks("s2", at(1), 10, LEASE) == []
    [again] = await store.acquire_tasks("s1", at(1), 10, LEASE)
    fired = again.job_for(T0, at(1))
    assert await store.release_tasks("s1", [FireResult(again, [fired], at(10))]) == [fired]
    # Released: another scheduler fires the next run time, long before that lease's end.
    assert [t.id for t in await store.acquire_tasks("s2", at(11), 10, LEASE)] == ["t"]


async def test_a_leased_task_is_next_due_when_its_lease_ends(store: BaseStore) -> None:
    await store.add_task(task("leased", T0))
    await store.add_task(task("later", at(LEASE * 2)))
    assert [t.id for t in await store.acquire_tasks("s1", T0, 10, LEASE)] == ["leased"]
    # Not T0 (the fire loop would retry a task it cannot acquire), but the lease's end.
    assert await store.get_next_run_time() == at(LEASE)


async def test_release_tasks_inserts_jobs_advances_and_drops_the_lease(store: BaseStore) -> None:
    await store.add_task(task(args=(7,), priority=3))
    [acquired] = await store.acquire_tasks("s1", T0, 10, LEASE)
    fire = acquired.job_for(T0, T0)
    inserted = await store.release_tasks("s1", [FireResult(acquired, [fire], at(10))])
    assert [j.id for j in inserted] == [fire.id]
    stored = await store.get_job(fire.id)
    assert (stored.task_id, stored.args, stored.priority, stored.state) == (
        "t",
        (7,),
        3,
        JobState.PENDING,
    )
    assert (await store.get_task("t")).next_run_time == at(10)
    # The lease is gone: another scheduler fires the next run time.
    assert len(await store.acquire_tasks("s2", at(10), 10, LEASE)) == 1


async def test_release_tasks_deletes_a_finished_task(store: BaseStore) -> None:
    await store.add_task(task())
    [acquired] = await store.acquire_tasks("s1", T0, 10, LEASE)
    await store.release_tasks("s1", [FireResult(acquired, [acquired.job_for(T0, T0)], None)])
    with pytest.raises(TaskLookupError):
        await store.get_task("t")


async def test_a_fire_time_inserts_one_job_even_when_fired_twice(store: BaseStore) -> None:
    await store.add_task(task())
    [first] = await store.acquire_tasks("s1", T0, 10, LEASE)
    # s1 stalls past its lease; s2 fires the same run time.
    [second] = await store.acquire_tasks("s2", at(LEASE + 1), 10, LEASE)
    one = await store.release_tasks("s2", [FireResult(second, [second.job_for(T0, T0)], at(10))])
    two = await store.release_tasks("s1", [FireResult(first, [first.job_for(T0, T0)], at(10))])
    assert len(one) == 1 and two == []
    assert len(await store.get_jobs(task_id="t")) == 1


async def test_a_stale_release_after_a_lost_lease_changes_nothing(store: BaseStore) -> None:
    await store.add_task(task())
    [stale] = await store.acquire_tasks("s1", T0, 10, LEASE)
    # s1 stalls past its lease; s2 fires T0, the job fails and its retry moves scheduled_at.
    [fresh] = await store.acquire_tasks("s2", at(LEASE + 1), 10, LEASE)
    await store.release_tasks("s2", [FireResult(fresh, [fresh.job_for(T0, T0)], at(20))])
    [job] = (await store.acquire_jobs("w", {"default": 10}, at(LEASE + 1), LEASE)).jobs
    retry = job.evolve(max_attempts=2).after_failure(
        JobError.from_exception(RuntimeError("x")), at(LEASE + 1)
    )
    await store.complete_jobs("w", [retry])
    # s1 wakes up and releases its fire of T0: fenced, so no second job and no step back.
    late = await store.release_tasks("s1", [FireResult(stale, [stale.job_for(T0, T0)], at(10))])
    assert late == []
    assert len(await store.get_jobs(task_id="t")) == 1
    assert (await store.get_task("t")).next_run_time == at(20)


@pytest.mark.parametrize("replace", [False, True], ids=["update_task", "add_task-replace"])
async def test_a_task_changed_while_it_fires_keeps_the_change(
    store: BaseStore, replace: bool
) -> None:
    await store.add_task(task())
    [leased] = await store.acquire_tasks("s1", T0, 10, LEASE)
    # Paused (as pause_task does) while s1 fires it: the change drops s1's lease.
    paused = leased.model_copy(update={"next_run_time": None})
    if replace:
        await store.add_task(paused, replace_existing=True)
    else:
        await store.update_task(paused)
    fire = FireResult(leased, [leased.job_for(T0, T0)], at(10))
    assert await store.release_tasks("s1", [fire]) == []
    assert (await store.get_task("t")).next_run_time is None  # still paused
    assert await store.get_jobs() == []
    # Resumed: due again, and fired once by whoever acquires it.
    await store.update_task(paused.model_copy(update={"next_run_time": T0}))
    [again] = await store.acquire_tasks("s2", T0, 10, LEASE)
    second = FireResult(again, [again.job_for(T0, T0)], at(10))
    assert len(await store.release_tasks("s2", [second])) == 1


async def test_a_fire_without_jobs_still_advances_the_task(store: BaseStore) -> None:
    await store.add_task(task())
    [acquired] = await store.acquire_tasks("s1", T0, 10, LEASE)
    # Every run time was missed (misfire grace): no job, but the task moves on.
    assert await store.release_tasks("s1", [FireResult(acquired, [], at(10))]) == []
    assert (await store.get_task("t")).next_run_time == at(10)
    assert await store.get_jobs() == []
    assert await store.release_tasks("s1", []) == []
