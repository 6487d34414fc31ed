"""The store contract for jobs (`BaseStore`), run against every store: memory and PostgreSQL.

Time is passed in explicitly (`T0` and offsets from it): nothing here sleeps.
"""

from __future__ import annotations

import random

import pytest

from asyncz_queue.exceptions import JobLookupError, SerializationError
from asyncz_queue.jobs import JobError, JobState
from asyncz_queue.stores.base import BaseStore, FireResult
from tests.stores.contract import (
    LEASE,
    T0,
    at,
    collect,
    dump,
    job,
    task,
    task_job,
)

pytestmark = pytest.mark.anyio


# ---- jobs ----------------------------------------------------------------------------


async def test_add_jobs_then_get_job_returns_each_unchanged(store: BaseStore) -> None:
    original = job(
        args=(1, [2, 3], {"x": "é"}),
        kwargs={"z": 1.5, "a": [None, True]},
        executor="cpu",
        priority=-5,
        max_attempts=3,
        scheduled_at=at(3),
        timeout=1.25,
        retry_on=(ValueError, "KeyError"),
        retry_backoff=0.5,
        retry_backoff_max=9.0,
    )
    [stored] = await store.add_jobs([original])
    assert dump(stored) == dump(original)
    assert dump(await store.get_job(original.id)) == dump(original)


async def test_add_jobs_is_all_or_nothing_on_arguments_it_cannot_store(store: BaseStore) -> None:
    good, bad = job(args=(1,)), job(kwargs={"when": object()})
    with pytest.raises(SerializationError, match="keyword arguments of job"):
        await store.add_jobs([good, bad])
    with pytest.raises(JobLookupError):
        await store.get_job(good.id)


async def test_a_push_of_one_job_with_a_taken_id_returns_the_stored_job(store: BaseStore) -> None:
    held = job(priority=1)
    await store.add_jobs([held])
    assert await store.add_jobs([held.evolve(priority=9)]) == [held]
    assert (await store.get_job(held.id)).priority == 1
    assert len(await store.get_jobs()) == 1


@pytest.mark.parametrize("size", [2, 250])  # 250: the PostgreSQL store's COPY path
async def test_a_batch_holding_one_id_twice_stores_the_first(store: BaseStore, size: int) -> None:
    first = job(priority=1)
    others = [job() for _ in range(size - 2)]
    stored = await store.add_jobs([first, *others, first.evolve(priority=9)])
    assert [j.priority for j in (stored[0], stored[-1])] == [1, 1]
    assert (await store.get_job(first.id)).priority == 1
    assert len(await store.get_jobs(limit=1000)) == size - 1


async def test_one_job_per_fire_of_a_task_however_it_is_stored(store: BaseStore) -> None:
    fired = task_job("t", at(0))
    assert await store.add_jobs([fired]) == [fired]
    [held] = await store.add_jobs([task_job("t", at(0))])  # pushed for the same fire time
    assert held.id == fired.id
    await store.add_task(task("t", next_run_time=at(0)))
    [leased] = await store.acquire_tasks("s1", at(0), 10, LEASE)
    again = leased.job_for(at(0), at(0))
    assert await store.release_tasks("s1", [FireResult(leased, [again], at(10))]) == []
    assert [j.id for j in await store.get_jobs(task_id="t")] == [fired.id]


#: A push this big takes another path in the PostgreSQL store (COPY): same behaviour.
BULK = 250


async def test_a_bulk_push_stores_every_job_exactly(store: BaseStore) -> None:
    jobs = [
        job(
            args=(i, "tab\there, newline\n, backslash \\, é"),
            kwargs={"k": [i, None, True]} if i % 2 else {},
            executor=f"ex{i % 3}",
            priority=i % 4 - 2,
            max_attempts=i % 3 + 1,
            scheduled_at=at(i),
            timeout=None if i % 5 else 2.5,
            retry_on=(ValueError,) if i % 7 == 0 else (),
        )
        for i in range(BULK)
    ]
    assert await store.add_jobs(jobs) == jobs
    for original in jobs:
        assert dump(await store.get_job(original.id)) == dump(original)


async def test_a_bulk_push_with_a_taken_id_keeps_the_stored_job_and_stores_the_rest(
    store: BaseStore,
) -> None:
    held = job(priority=1)
    await store.add_jobs([held])
    jobs = [job() for _ in range(BULK)]
    jobs[7] = held.evolve(priority=9)  # the same id again
    stored = await store.add_jobs(jobs)
    assert stored[7] == held and (await store.get_job(held.id)).priority == 1
    assert stored[:7] + stored[8:] == jobs[:7] + jobs[8:]
    assert len(await store.get_jobs(limit=2 * BULK)) == BULK


async def test_a_bulk_push_with_an_argument_it_cannot_store_stores_nothing(
    store: BaseStore,
) -> None:
    jobs = [*(job() for _ in range(BULK)), job(args=(object(),))]
    with pytest.raises(SerializationError):
        await store.add_jobs(jobs)
    assert await store.get_jobs() == []


async def test_a_held_unique_key_returns_the_holding_job(store: BaseStore) -> None:
    first = job(unique_key="report")
    [stored] = await store.add_jobs([first])
    again = await store.add_jobs([job(unique_key="report"), job(unique_key="other")])
    assert again[0].id == first.id
    assert again[1].unique_key == "other"
    assert len(await store.get_jobs()) == 2
    assert stored.id == first.id


async def test_unique_key_within_one_batch_stores_one_job(store: BaseStore) -> None:
    a, b = job(unique_key="k"), job(unique_key="k")
    stored = await store.add_jobs([a, b])
    assert [j.id for j in stored] == [a.id, a.id]


async def test_a_finished_job_frees_its_unique_key(store: BaseStore) -> None:
    first = job(unique_key="k")
    await store.add_jobs([first])
    [running] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    await store.complete_jobs("w1", [running.after_success(None, at(1))])
    second = job(unique_key="k")
    assert [j.id for j in await store.add_jobs([second])] == [second.id]


async def test_unknown_job_ids_raise_job_lookup_error(store: BaseStore) -> None:
    with pytest.raises(JobLookupError):
        await store.get_job("nope")
    with pytest.raises(JobLookupError):
        await store.cancel_job("nope", T0)


async def test_get_jobs_is_newest_first_and_filters(store: BaseStore) -> None:
    jobs = [job(args=(i,)) for i in range(5)]
    fired = task_job("t", T0)
    await store.add_jobs([*jobs, fired])
    assert [j.id for j in await store.get_jobs()] == [fired.id, *[j.id for j in reversed(jobs)]]
    assert [j.id for j in await store.get_jobs(limit=2)] == [fired.id, jobs[4].id]
    assert [j.id for j in await store.get_jobs(task_id="t")] == [fired.id]
    await store.cancel_job(jobs[1].id, T0)
    assert [j.id for j in await store.get_jobs(state=JobState.CANCELLED)] == [jobs[1].id]
    assert await store.get_jobs(state=JobState.CANCELLED, task_id="t") == []


async def test_get_next_job_time_is_the_earliest_waiting_job_of_those_executors(
    store: BaseStore,
) -> None:
    assert await store.get_next_job_time(["default"]) is None
    await store.add_jobs(
        [
            job(scheduled_at=at(50)),
            job(scheduled_at=at(20), executor="other"),
            job(scheduled_at=at(30), priority=9),
        ]
    )
    assert await store.get_next_job_time(["default"]) == at(30)
    assert await store.get_next_job_time(["default", "other"]) == at(20)
    assert await store.get_next_job_time(["nobody"]) is None


async def test_acquire_jobs_runs_lower_priority_first_then_scheduled_at_then_push_order(
    store: BaseStore,
) -> None:
    rng = random.Random(5)
    jobs = [
        job(priority=rng.choice([-1, 0, 2]), scheduled_at=at(rng.choice([0, 1, 2])))
        for _ in range(40)
    ]
    await store.add_jobs(jobs)
    position = {j.id: i for i, j in enumerate(jobs)}
    expected = sorted(jobs, key=lambda j: (j.priority, j.scheduled_at, position[j.id]))
    taken: list[str] = []
    while batch := (await store.acquire_jobs("w1", {"default": 7}, at(5), LEASE)).jobs:
        taken += [j.id for j in batch]
    assert taken == [j.id for j in expected]


async def test_acquired_jobs_are_running_under_the_workers_lease(store: BaseStore) -> None:
    pushed = job(max_attempts=2)
    await store.add_jobs([pushed])
    [running] = (await store.acquire_jobs("w1", {"default": 5}, at(1), LEASE)).jobs
    assert running.id == pushed.id
    assert (running.state, running.attempts, running.worker_id) == (JobState.RUNNING, 1, "w1")
    assert running.started_at == at(1) and running.lease_until == at(1 + LEASE)
    assert dump(await store.get_job(pushed.id)) == dump(running)


async def test_a_job_is_never_acquired_twice_or_before_it_is_due(store: BaseStore) -> None:
    now_job, later = job(), job(scheduled_at=at(10))
    await store.add_jobs([now_job, later])
    assert [j.id for j in (await store.acquire_jobs("w1", {"default": 5}, T0, LEASE)).jobs] == [
        now_job.id
    ]
    assert (await store.acquire_jobs("w2", {"default": 5}, at(9), LEASE)).jobs == []
    assert [j.id for j in (await store.acquire_jobs("w2", {"default": 5}, at(10), LEASE)).jobs] == [
        later.id
    ]


async def test_a_job_made_later_than_the_workers_now_still_waits_until_it_is_due(
    store: BaseStore,
) -> None:
    # Due when it was made (the memory store keeps such jobs ready at once), yet not due at
    # the `now` a worker passes in: only `scheduled_at` decides.
    made_later = job(scheduled_at=at(10)).evolve(created_at=at(20))
    await store.add_jobs([made_later])
    assert (await store.acquire_jobs("w1", {"default": 5}, at(9), LEASE)).jobs == []
    assert await store.get_next_job_time(["default"]) == at(10)
    acquired = await store.acquire_jobs("w1", {"default": 5}, at(10), LEASE)
    assert [j.id for j in acquired.jobs] == [made_later.id]


async def test_acquire_jobs_honours_each_executors_limit(store: BaseStore) -> None:
    await store.add_jobs(
        [job(executor="a") for _ in range(5)] + [job(executor="b") for _ in range(5)]
    )
    acquired = await store.acquire_jobs("w1", {"a": 2, "b": 3, "c": 4}, T0, LEASE)
    executors = [j.executor for j in acquired.jobs]
    assert executors.count("a") == 2 and executors.count("b") == 3
    assert (await store.acquire_jobs("w1", {"a": 0}, T0, LEASE)).jobs == []


async def test_a_task_at_max_instances_skips_its_job_without_blocking_the_rest(
    store: BaseStore,
) -> None:
    await store.add_jobs([task_job("t", T0)])
    [first] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    blocked, behind = task_job("t", at(1)), job(scheduled_at=at(1), priority=5)
    await store.add_jobs([blocked, behind])
    acquired = await store.acquire_jobs("w2", {"default": 1}, at(1), LEASE)
    assert [j.id for j in acquired.jobs] == [behind.id]
    assert [(j.id, j.state, j.completed_at) for j in acquired.skipped] == [
        (blocked.id, JobState.SKIPPED, at(1))
    ]
    assert (await store.get_job(blocked.id)).state is JobState.SKIPPED
    assert first.state is JobState.RUNNING


async def test_max_instances_counts_jobs_of_the_same_batch(store: BaseStore) -> None:
    jobs = [task_job("t", at(i), max_instances=2) for i in range(3)]
    await store.add_jobs(jobs)
    acquired = await store.acquire_jobs("w1", {"default": 10}, at(5), LEASE)
    assert [j.id for j in acquired.jobs] == [jobs[0].id, jobs[1].id]
    assert [j.id for j in acquired.skipped] == [jobs[2].id]


async def test_a_job_held_back_by_its_tasks_job_in_a_full_executor_is_not_skipped(
    store: BaseStore,
) -> None:
    # The task's jobs wait in two executors (its executor changed meanwhile, say); the one
    # in "a" cannot start, as "a" is full: its twin in "b" must not be skipped for it.
    plain = job(priority=-1, executor="a")
    in_a = task_job("t", at(0), executor="a")
    in_b = task_job("t", at(1), executor="b", priority=1)
    await store.add_jobs([plain, in_a, in_b])
    ran: list[str] = []
    for second in range(5, 9):
        acquired = await store.acquire_jobs("w1", {"a": 1, "b": 1}, at(second), LEASE)
        assert acquired.skipped == []
        ran += [j.id for j in acquired.jobs]
        done = [j.after_success(None, at(second)) for j in acquired.jobs]
        await store.complete_jobs("w1", done)
    assert sorted(ran) == sorted([plain.id, in_a.id, in_b.id])
    assert (await store.get_job(in_b.id)).state is JobState.SUCCEEDED


async def test_an_outcome_counts_as_written_only_for_its_own_worker_and_value(
    store: BaseStore,
) -> None:
    await store.add_jobs([job()])
    [running] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    done = running.after_success(1, at(1))
    assert len(await store.complete_jobs("w1", [done])) == 1
    assert await store.complete_jobs("w1", [done.evolve(result=2)]) == []
    assert await store.complete_jobs("w2", [done]) == []
    assert (await store.get_job(running.id)).result == 1


async def test_a_finished_instance_frees_its_slot(store: BaseStore) -> None:
    await store.add_jobs([task_job("t", T0)])
    [running] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    await store.complete_jobs("w1", [running.after_success(1, at(1))])
    nxt = task_job("t", at(2))
    await store.add_jobs([nxt])
    assert [j.id for j in (await store.acquire_jobs("w1", {"default": 1}, at(2), LEASE)).jobs] == [
        nxt.id
    ]


async def test_complete_jobs_writes_results_only_under_the_same_worker_and_attempt(
    store: BaseStore,
) -> None:
    await store.add_jobs([job(), job()])
    one, two = (await store.acquire_jobs("w1", {"default": 2}, T0, LEASE)).jobs
    assert await store.complete_jobs("w2", [one.after_success(1, at(1))]) == []
    stale = two.evolve(attempts=two.attempts + 1).after_success(2, at(1))
    assert await store.complete_jobs("w1", [stale]) == []
    result = {"rows": [1, 2.5, "x"], "ok": True}
    written = await store.complete_jobs("w1", [one.after_success(result, at(1))])
    assert [j.id for j in written] == [one.id]
    stored = await store.get_job(one.id)
    assert (stored.state, stored.result, stored.completed_at) == (
        JobState.SUCCEEDED,
        result,
        at(1),
    )
    assert (await store.get_job(two.id)).state is JobState.RUNNING
    # A finished attempt cannot be written twice.
    assert await store.complete_jobs("w1", [one.after_success(3, at(2))]) == []


async def test_a_failed_attempt_with_attempts_left_waits_for_its_backoff(store: BaseStore) -> None:
    await store.add_jobs([job(max_attempts=3)])
    [running] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    error = JobError.from_exception(ValueError("boom"))
    retrying = running.after_failure(error, at(1)).evolve(scheduled_at=at(20))
    [written] = await store.complete_jobs("w1", [retrying])
    assert written.state is JobState.RETRYING
    stored = await store.get_job(running.id)
    assert (stored.state, stored.error_type, stored.error, len(stored.errors)) == (
        JobState.RETRYING,
        "ValueError",
        "boom",
        1,
    )
    assert (await store.acquire_jobs("w1", {"default": 1}, at(19), LEASE)).jobs == []
    assert await store.get_next_job_time(["default"]) == at(20)
    [again] = (await store.acquire_jobs("w2", {"default": 1}, at(20), LEASE)).jobs
    assert (again.id, again.attempts, again.worker_id) == (running.id, 2, "w2")


async def test_extend_leases_renews_only_the_leases_the_worker_holds(store: BaseStore) -> None:
    await store.add_jobs([job(), job()])
    mine = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs[0]
    theirs = (await store.acquire_jobs("w2", {"default": 1}, T0, LEASE)).jobs[0]
    held = await store.extend_leases("w1", [theirs.id, mine.id, "nope"], at(100))
    assert held == [mine.id]
    assert (await store.get_job(mine.id)).lease_until == at(100)
    assert (await store.get_job(theirs.id)).lease_until == at(LEASE)


async def test_rescue_requeues_a_lost_job_as_a_new_attempt(store: BaseStore) -> None:
    await store.add_jobs([job(max_attempts=2)])
    [lost] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    assert await store.rescue_jobs(at(LEASE)) == []  # the lease has not run out yet
    [rescued] = await store.rescue_jobs(at(LEASE + 1))
    assert (rescued.id, rescued.state, rescued.scheduled_at) == (
        lost.id,
        JobState.RETRYING,
        at(LEASE + 1),
    )
    assert rescued.error_type == "WorkerLost" and "w1" in (rescued.error or "")
    assert dump(await store.get_job(lost.id)) == dump(rescued)
    [again] = (await store.acquire_jobs("w2", {"default": 1}, at(LEASE + 1), LEASE)).jobs
    assert again.attempts == 2
    # The presumed-dead worker comes back: its late completion cannot overwrite the retry.
    assert await store.complete_jobs("w1", [lost.after_success("late", at(LEASE + 2))]) == []
    assert (await store.get_job(lost.id)).worker_id == "w2"


async def test_rescue_fails_a_lost_job_without_attempts_left(store: BaseStore) -> None:
    await store.add_jobs([task_job("t", T0)])
    [lost] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    [failed] = await store.rescue_jobs(at(LEASE + 1))
    assert (failed.state, failed.completed_at) == (JobState.FAILED, at(LEASE + 1))
    assert await store.complete_jobs("w1", [lost.after_success(1, at(LEASE + 2))]) == []
    # The task's instance slot was freed with it.
    nxt = task_job("t", at(LEASE + 2))
    await store.add_jobs([nxt])
    assert len((await store.acquire_jobs("w1", {"default": 1}, at(LEASE + 2), LEASE)).jobs) == 1


async def test_cancel_job_cancels_only_waiting_jobs(store: BaseStore) -> None:
    waiting, running = job(), job(priority=-1)
    await store.add_jobs([waiting, running])
    [started] = (await store.acquire_jobs("w1", {"default": 1}, T0, LEASE)).jobs
    assert started.id == running.id
    cancelled = await store.cancel_job(waiting.id, at(1))
    assert (cancelled.state, cancelled.completed_at) == (JobState.CANCELLED, at(1))
    assert (await store.cancel_job(running.id, at(1))).state is JobState.RUNNING
    assert (await store.acquire_jobs("w1", {"default": 5}, at(2), LEASE)).jobs == []


async def test_prune_jobs_deletes_old_finished_jobs_in_batches(store: BaseStore) -> None:
    jobs = [job() for _ in range(5)]
    await store.add_jobs([*jobs, job(scheduled_at=at(1000))])
    for i, pushed in enumerate(jobs):
        await store.cancel_job(pushed.id, at(i))
    assert await store.prune_jobs(at(3), limit=2) == 2
    assert await store.prune_jobs(at(3), limit=10) == 1
    assert await store.prune_jobs(at(3)) == 0
    assert len(await store.get_jobs()) == 3
    assert await store.prune_jobs(at(10_000)) == 2
    assert len(await store.get_jobs(state=JobState.PENDING)) == 1


async def test_prune_goes_by_completion_time_not_by_the_order_outcomes_came_in(
    store: BaseStore,
) -> None:
    late, early, a, b = job(), job(), job(), job()
    await store.add_jobs([late, early, a, b])
    await store.cancel_job(late.id, at(100))
    await store.cancel_job(early.id, at(1))  # recorded second, finished first
    ra, rb = (await store.acquire_jobs("w1", {"default": 2}, T0, LEASE)).jobs
    await store.complete_jobs("w1", [ra.after_success(1, at(20)), rb.after_success(2, at(5))])
    assert await store.prune_jobs(at(10)) == 2  # `early` and the one finished at 5
    assert {j.id for j in await store.get_jobs()} == {late.id, ra.id}


async def test_get_jobs_with_limit_zero_returns_none(store: BaseStore) -> None:
    await store.add_jobs([job(), job()])
    assert await store.get_jobs(limit=0) == []


async def test_changes_notify_the_loops(store: BaseStore) -> None:
    kinds = collect(store)
    await store.add_task(task())
    assert kinds == ["tasks"]
    [acquired] = await store.acquire_tasks("s1", T0, 10, LEASE)
    await store.release_tasks("s1", [FireResult(acquired, [acquired.job_for(T0, T0)], at(10))])
    assert kinds[-1] == "jobs"
    kinds.clear()
    await store.add_jobs([job(max_attempts=2)])
    assert kinds == ["jobs"]
    kinds.clear()
    running = (await store.acquire_jobs("w1", {"default": 5}, T0, LEASE)).jobs
    assert kinds == []
    retry = running[-1].after_failure(JobError.lost("x"), at(1))
    assert retry.state is JobState.RETRYING
    await store.complete_jobs("w1", [retry])
    assert kinds == ["jobs"]
    kinds.clear()
    await store.rescue_jobs(at(LEASE + 1))
    assert kinds == ["jobs"]
