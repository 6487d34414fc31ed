"""PostgreSQL LISTEN/NOTIFY: wake-ups, events and cancel requests between processes.

Two stores on one schema stand for two processes (each has its own listen connection).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import psycopg
import pytest
from psycopg import sql

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.events import JobEvent, SchedulerEvent, TaskEvent
from asyncz_queue.events.constants import (
    JOB_FAILED,
    JOB_PUSHED,
    JOB_RETRYING,
    JOB_STARTED,
    JOB_SUCCEEDED,
    TASK_ADDED,
)
from asyncz_queue.events.models import event_from_dict, job_event
from asyncz_queue.jobs import Job, JobError, JobState
from asyncz_queue.stores.base import Notification
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.stores.postgres.channel import (
    MAX_PAYLOAD,
    Listener,
    Outbox,
    bound_event,
    encode_event,
    pack_events,
    pack_job_events,
)
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import IntervalTrigger
from tests.pg_cluster import open_postgres_store, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

FN = "tests.stores.contract:work"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def double(x: int) -> int:
    return 2 * x


def record(store: PostgresStore) -> list[Notification]:
    seen: list[Notification] = []
    store.set_notification_handler(seen.append)
    return seen


async def wait_for(seen: list[Notification], count: int, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while len(seen) < count:
            await asyncio.sleep(0.001)


async def test_a_change_wakes_the_other_process_within_milliseconds(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = postgres_store_pair
    seen = record(second)
    started = time.perf_counter()
    await first.add_jobs([Job.from_func(FN, scheduled_at=T0)])
    await wait_for(seen, 1)
    assert seen == [Notification("jobs")]
    assert time.perf_counter() - started < 0.5
    await first.add_task(Task(id="t", fn=FN, trigger=IntervalTrigger(seconds=5), next_run_time=T0))
    await wait_for(seen, 2)
    assert seen[1] == Notification("tasks")


async def test_a_process_hears_its_own_change_once(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = postgres_store_pair
    own, other = record(first), record(second)
    await first.add_jobs([Job.from_func(FN, scheduled_at=T0)])
    await wait_for(other, 1)
    await asyncio.sleep(0.1)  # the echo of its own NOTIFY would have arrived by now
    assert own == [Notification("jobs")]


async def test_an_announced_push_is_one_message_that_wakes_even_a_process_wanting_no_events(
    postgres_dsn: str, postgres_store_pair: tuple[PostgresStore, PostgresStore]
) -> None:
    first, second = postgres_store_pair
    woken: list[Notification] = []
    second.set_notification_handler(woken.append, lambda codes: False)
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as raw:
        await raw.execute(sql.SQL("LISTEN {}").format(sql.Identifier(first.channel)))
        await first.add_jobs([Job.from_func(FN, scheduled_at=T0)], announce=True)
        messages = [n.payload async for n in raw.notifies(timeout=0.5)]
    assert len(messages) == 1 and messages[0].startswith(f"r:{first._sender}:{JOB_PUSHED}:")
    await wait_for(woken, 1)
    assert woken == [Notification("jobs")]  # woken, and no event decoded


async def test_events_reach_other_processes_but_not_their_sender(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = postgres_store_pair
    own, other = record(first), record(second)
    events = [
        JobEvent(
            code=4096,
            job_id=str(i),
            scheduler_identity=first.identity,
            scheduled_at=T0,
            return_value={"n": i, "text": "é🙂", 7: [1.5, None]},
        )
        for i in range(500)
    ]
    for event in events:
        first.publish(event)
    await wait_for(other, 500)
    assert {n.kind for n in other} == {"event"}
    received = [event_from_dict(n.payload or {}) for n in other]
    expected = [
        replace(e, return_value={"n": int(e.job_id or 0), "text": "é🙂", "7": [1.5, None]})
        for e in events
    ]
    assert received == expected  # non-string keys arrive as strings, as JSON has them
    await asyncio.sleep(0.05)
    assert own == []


async def test_a_cancel_request_reaches_every_process(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = postgres_store_pair
    own, other = record(first), record(second)
    await first.request_cancel("job-1")
    assert own == [Notification("cancel", {"job_id": "job-1"})]
    await wait_for(other, 1)
    assert other == [Notification("cancel", {"job_id": "job-1"})]


async def test_an_oversized_event_is_cut_to_fit_never_failing(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = postgres_store_pair
    other = record(second)
    event = JobEvent(
        code=8192,
        job_id="j-1",
        scheduler_identity=first.identity,
        exception="ValueError: " + "é" * 2_000_000,
        traceback="Traceback\n" + "x" * 5_000_000,
        return_value={"rows": list(range(100_000))},
    )
    first.publish(event)
    await wait_for(other, 1)
    received = other[0].payload
    assert received is not None
    assert received["truncated"] is True and received["job_id"] == "j-1"
    assert received["traceback"].startswith("Traceback\nxxx")
    assert len(json.dumps(received)) < MAX_PAYLOAD


@pytest.mark.parametrize(
    "payload",
    [
        {"traceback": "x" * 10_000},
        {"exception": "€" * 10_000, "traceback": "🙂" * 10_000},
        {"return_value": object()},
        {"return_value": [{"k": "v" * 100}] * 1000, "job_id": "x"},
        {f"field{i}": "y" * 500 for i in range(100)},
    ],
)
def test_bound_event_always_fits(payload: dict[str, Any]) -> None:
    text = bound_event({"kind": "job", "code": 1, **payload})
    assert len(text.encode()) <= MAX_PAYLOAD
    assert json.loads(text)["code"] in (1, "1")


def test_pack_events_fills_messages_under_the_limit() -> None:
    events = [JobEvent(code=1, job_id=str(i), traceback="t€" * 700) for i in range(10)]
    messages = pack_events(events, "s1")
    assert 1 < len(messages) < 10
    assert all(len(m.encode()) < 8000 and m.startswith("e:s1:1:[") for m in messages)
    unpacked = [event for m in messages for event in json.loads(m.split(":", 3)[3])]
    assert [event_from_dict(e) for e in unpacked] == events


def receive(messages: list[str]) -> list[SchedulerEvent]:
    """What another process makes of `messages`, in order."""
    delivered: list[Notification] = []
    listener = Listener(lambda: None, "chan", "s2", "worker", delivered.append, 10.0)
    for message in messages:
        listener.dispatch(message)
    return [event_from_dict(n.payload) for n in delivered if n.payload]


def same_but_time(event: SchedulerEvent, expected: SchedulerEvent) -> bool:
    return replace(event, timestamp=expected.timestamp) == expected


def test_pushed_jobs_arrive_as_their_job_pushed_events_in_compact_messages() -> None:
    jobs = [Job.from_func(FN, executor=f"ex{i % 3}") for i in range(300)]
    jobs.append(Job.from_func(FN).evolve(task_id="nightly"))
    huge = Job.from_func(FN).evolve(id="x" * 9000)  # cut to fit, as any event is
    messages = pack_job_events(JOB_PUSHED, [*jobs, huge], "pusher", "s1")
    assert 1 < len(messages) < 8  # about 110 bytes a job
    assert all(len(m.encode()) < 8000 for m in messages)
    events = receive(messages)
    assert len(events) == len(jobs) + 1 and events[-1].job_id.startswith("xxx")
    for event, job in zip(events, jobs, strict=False):
        assert same_but_time(event, job_event(JOB_PUSHED, job, "pusher"))


def test_outcome_events_arrive_as_the_worker_built_them_whatever_the_outcome() -> None:
    running = Job.from_func(FN, max_attempts=2).evolve(state=JobState.RUNNING, attempts=1)
    error = JobError("ValueError", "bad", "Traceback: bad")
    outcomes = [
        (JOB_STARTED, running),
        (JOB_SUCCEEDED, running.after_success({"rows": [1, 2]}, T0)),
        (JOB_RETRYING, running.after_failure(error, T0)),
        (JOB_FAILED, running.evolve(attempts=2).after_failure(error, T0)),
        (JOB_FAILED, running.after_failure(JobError("E", "e", "t" * 20_000), T0)),  # cut
        (JOB_SUCCEEDED, running.after_success("bad \ud800 text", T0)),  # not for orjson
    ]
    messages = [m for code, job in outcomes for m in pack_job_events(code, [job], "w", "s1")]
    events = receive(messages)
    for event, (code, job) in zip(events[:4], outcomes, strict=False):
        assert same_but_time(event, job_event(code, job, "w"))
    assert events[4].code == JOB_FAILED and len(events[4].traceback or "") < 8000
    assert events[5].return_value == "bad \ud800 text"


async def test_the_outbox_keeps_the_order_of_mixed_events(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    sent: list[list[str]] = []

    async def send(messages: list[str]) -> None:
        sent.append(messages)

    outbox = Outbox(send, "s1")
    outbox.identity = "w"
    first, second = Job.from_func(FN), Job.from_func(FN)
    outbox.post(TaskEvent(code=1, task_id="a", scheduler_identity="w"))
    outbox.post_job(JOB_STARTED, first)
    outbox.post_job(JOB_STARTED, second)
    outbox.post_job(JOB_SUCCEEDED, first.after_success(1, T0))
    outbox.post(TaskEvent(code=2, task_id="b", scheduler_identity="w"))
    await outbox.drain()
    assert len(sent) == 1 and len(sent[0]) == 4  # one statement: event, rows, rows, event
    received = [(e.code, getattr(e, "job_id", None)) for e in receive(sent[0])]
    assert received == [
        (1, None),
        (JOB_STARTED, first.id),
        (JOB_STARTED, second.id),
        (JOB_SUCCEEDED, first.id),
        (2, None),
    ]


def test_a_listener_skips_its_own_event_messages_without_decoding_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[Notification] = []
    listener = Listener(lambda: None, "chan", "me", "my-identity", delivered.append, 10.0)
    listener.dispatch("e:me:1:[not json")  # its own: not even parsed
    assert delivered == [] and "malformed" not in caplog.text
    listener.dispatch("e:other:1:[not json")
    assert "malformed" in caplog.text
    ours, theirs = (JobEvent(code=1, scheduler_identity=who) for who in ("my-identity", "x"))
    for message in pack_events([ours, theirs], "other"):
        listener.dispatch(message)
    assert [n.payload["scheduler_identity"] for n in delivered] == ["x"]


def test_a_listener_reads_only_the_event_messages_whose_codes_its_process_wants(
    caplog: pytest.LogCaptureFixture,
) -> None:
    delivered: list[Notification] = []
    wanted = JOB_STARTED | JOB_SUCCEEDED
    listener = Listener(
        lambda: None, "chan", "me", "mine", delivered.append, 10.0, wants=lambda c: bool(c & wanted)
    )
    job = Job.from_func(FN)
    # Unwanted codes: not even parsed (a broken body would be reported as malformed).
    listener.dispatch(f"r:other:{JOB_PUSHED}:{{not json")
    listener.dispatch(f"e:other:{JOB_PUSHED | TASK_ADDED}:[not json")
    # Pushed jobs still wake the worker.
    assert delivered == [Notification("jobs")] * 2 and "malformed" not in caplog.text
    delivered.clear()
    for code in (JOB_PUSHED, JOB_STARTED):
        for message in pack_job_events(code, [job], "theirs", "other"):
            listener.dispatch(message)
    started = JobEvent(code=JOB_STARTED, scheduler_identity="x", job_id=job.id)
    pushed = JobEvent(code=JOB_PUSHED, scheduler_identity="x", job_id=job.id)
    # A message of mixed codes is read when one of them is wanted, and delivered whole.
    for message in pack_events([pushed, started], "other"):
        listener.dispatch(message)
    assert [
        (n.payload["code"], n.payload["job_id"]) if n.payload else n.kind for n in delivered
    ] == [
        "jobs",
        (JOB_STARTED, job.id),
        "jobs",
        (JOB_PUSHED, job.id),
        (JOB_STARTED, job.id),
    ]
    listener.dispatch("e:other:many:[]")  # codes that are no number
    assert "malformed" in caplog.text


def test_a_quiet_announcement_is_read_like_any_but_wakes_no_worker() -> None:
    delivered: list[Notification] = []
    listener = Listener(lambda: None, "chan", "me", "mine", delivered.append, 10.0)
    job = Job.from_func(FN)
    rows = pack_job_events(JOB_PUSHED, [job], "theirs", "other")
    dicts = pack_events([JobEvent(code=JOB_PUSHED, scheduler_identity="x", job_id=job.id)], "o")
    for message in rows + dicts:
        listener.dispatch("q" + message)  # as a push handed over sends them
    assert [(n.kind, n.payload and n.payload["job_id"]) for n in delivered] == [
        ("event", job.id),
        ("event", job.id),
    ]
    listener.dispatch("q" + rows[0][2:])  # no such kind as "q" alone: ignored
    listener.dispatch(rows[0])
    assert [n.kind for n in delivered[2:]] == ["jobs", "event"]


async def test_a_scheduler_wants_remote_job_ends_while_a_reference_waits() -> None:
    scheduler = AsyncIOScheduler()
    assert not scheduler._wants_remote(JOB_SUCCEEDED)
    scheduler.add_listener(lambda event: None, JOB_STARTED)
    assert scheduler._wants_remote(JOB_STARTED | JOB_PUSHED)
    assert not scheduler._wants_remote(JOB_SUCCEEDED)
    scheduler._waiters["some-job"] = []
    assert scheduler._wants_remote(JOB_SUCCEEDED) and not scheduler._wants_remote(JOB_PUSHED)


@pytest.mark.parametrize(
    "event",
    [
        JobEvent(code=1, job_id="surrogate", exception="bad \ud800 text"),
        JobEvent(code=1, job_id="big", return_value=2**70),
        JobEvent(code=1, job_id="odd", return_value={"what": object()}),
    ],
    ids=["lone-surrogate", "huge-integer", "unencodable-value"],
)
def test_encode_event_matches_to_dict_where_orjson_cannot_help(event: JobEvent) -> None:
    decoded = json.loads(encode_event(event))
    expected = json.loads(json.dumps(event.to_dict(), default=repr))
    assert decoded == expected


async def test_listen_false_works_by_polling_only(postgres_dsn: str) -> None:
    async with open_postgres_store(postgres_dsn, listen=False, poll_interval=0.25) as store:
        assert store._listener is None and store.poll_interval == 0.25
        seen = record(store)
        await store.add_jobs([Job.from_func(FN, scheduled_at=T0)])
        assert seen == [Notification("jobs")]  # its own changes still wake it at once
        assert len((await store.acquire_jobs("w", {"default": 5}, T0, 30)).jobs) == 1


async def test_a_push_inside_a_rolled_back_transaction_leaves_no_job(
    postgres_store_pair: tuple[PostgresStore, PostgresStore], postgres_dsn: str
) -> None:
    first, second = postgres_store_pair
    own, other = record(first), record(second)
    kept, dropped = Job.from_func(FN, scheduled_at=T0), Job.from_func(FN, scheduled_at=T0)
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        async with conn.transaction():
            await first.add_jobs([kept], connection=conn)
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await first.add_jobs([dropped], connection=conn)
                raise RuntimeError("the caller's transaction fails")
    assert [j.id for j in await first.get_jobs()] == [kept.id]
    # Only the commit woke the workers, in this process too.
    await wait_for(own, 1)
    await wait_for(other, 1)
    await asyncio.sleep(0.05)
    assert own == other == [Notification("jobs")]


async def test_pushed_events_reach_other_processes_only_when_the_push_commits(
    postgres_store_pair: tuple[PostgresStore, PostgresStore], postgres_dsn: str
) -> None:
    first, second = postgres_store_pair
    other = record(second)
    kept, dropped = Job.from_func(FN, scheduled_at=T0), Job.from_func(FN, scheduled_at=T0)
    async with await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await first.add_jobs([dropped], connection=conn, announce=True)
                raise RuntimeError("the caller's transaction fails")
        async with conn.transaction():
            await first.add_jobs([kept], connection=conn, announce=True)
            await asyncio.sleep(0.1)
            assert [n.kind for n in other] == []  # not before the commit
    await wait_for(other, 2)  # the wake-up and the event
    await asyncio.sleep(0.05)
    events = [n.payload for n in other if n.kind == "event"]
    assert [e["job_id"] for e in events if e] == [kept.id]


async def test_a_job_kept_out_by_its_unique_key_announces_nothing(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    first, second = postgres_store_pair
    other = record(second)
    holder = Job.from_func(FN, scheduled_at=T0, unique_key="nightly")
    duplicate = Job.from_func(FN, scheduled_at=T0, unique_key="nightly")
    fresh = Job.from_func(FN, scheduled_at=T0)
    jobs = [holder, duplicate, fresh]
    stored = await first.add_jobs(jobs, announce=True)
    assert [job.id for job in stored] == [holder.id, holder.id, fresh.id]
    await wait_for(other, 3)  # the wake-up and two events
    await asyncio.sleep(0.05)
    events = [n.payload for n in other if n.kind == "event"]
    assert sorted(e["job_id"] for e in events if e) == sorted([holder.id, fresh.id])


async def test_push_refuses_a_sync_connection(
    postgres_store_pair: tuple[PostgresStore, PostgresStore],
) -> None:
    with pytest.raises(TypeError, match="AsyncConnection"):
        await postgres_store_pair[0].add_jobs([Job.from_func(FN)], connection=object())


async def test_a_job_pushed_by_one_scheduler_runs_on_another_and_its_result_comes_back(
    postgres_dsn: str,
) -> None:
    schema = unique_schema()
    pusher = AsyncIOScheduler(
        stores={"default": PostgresStore(postgres_dsn, schema=schema)}, role="scheduler"
    )
    worker = AsyncIOScheduler(
        stores={"default": PostgresStore(postgres_dsn, schema=schema)}, role="worker"
    )
    await pusher.migrate()
    try:
        async with pusher, worker:
            ref = await pusher.push(double, 21)
            assert await ref.result(timeout=10) == 42
    finally:
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


async def test_a_scheduler_push_rolled_back_is_never_announced_elsewhere(
    postgres_store_pair: tuple[PostgresStore, PostgresStore], postgres_dsn: str
) -> None:
    first, second = postgres_store_pair
    other = record(second)
    pusher = AsyncIOScheduler(
        stores={"default": PostgresStore(postgres_dsn, schema=first.schema)}, role="scheduler"
    )
    async with pusher, await psycopg.AsyncConnection.connect(postgres_dsn) as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await pusher.push(Job.from_func(FN), connection=conn)
                raise RuntimeError("the caller's transaction fails")
        committed = await pusher.push(Job.from_func(FN))
        await wait_for(other, 2)  # the committed push: its wake-up and its event
        await asyncio.sleep(0.1)
    events = [n.payload for n in other if n.kind == "event" and n.payload]
    assert [(e["code"], e["job_id"]) for e in events] == [(JOB_PUSHED, committed.job_id)]


async def _bulk_push_messages(dsn: str, pusher: PostgresStore, count: int) -> list[str]:
    """The channel's messages while `pusher` pushes `count` jobs in one call (COPY)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as raw:
        await raw.execute(sql.SQL("LISTEN {}").format(sql.Identifier(pusher.channel)))
        await pusher.add_jobs([Job.from_func(FN) for _ in range(count)], announce=True)
        return [n.payload async for n in raw.notifies(timeout=0.5)]


async def test_a_bulk_push_is_announced_job_by_job_only_while_another_live_process_listens(
    postgres_dsn: str, postgres_store_pair: tuple[PostgresStore, PostgresStore]
) -> None:
    first, second = postgres_store_pair
    pushed = f"r:{first._sender}:{JOB_PUSHED}:"
    now = datetime.now(UTC)
    # Nobody listens: its own heartbeat, another process's for other events, a stale one.
    await first.heartbeat(first.identity or "", {"listens": JOB_PUSHED, "every": 10}, now)
    await second.heartbeat("other", {"listens": JOB_STARTED, "every": 10}, now)
    stale = now - timedelta(seconds=31)
    await second.heartbeat("gone", {"listens": JOB_PUSHED, "every": 10}, stale)
    assert await _bulk_push_messages(postgres_dsn, first, 250) == [f"j:{first._sender}"]
    # A live process listens for JOB_PUSHED: every job is announced to it.
    await second.heartbeat("dashboard", {"listens": JOB_PUSHED | JOB_STARTED, "every": 10}, now)
    messages = await _bulk_push_messages(postgres_dsn, first, 250)
    assert messages and all(message.startswith(pushed) for message in messages)
    assert sum(len(json.loads(m[len(pushed) :])["j"]) for m in messages) == 250


async def test_a_scheduler_records_what_it_listens_for_as_listeners_come_and_go(
    postgres_dsn: str, postgres_store_pair: tuple[PostgresStore, PostgresStore]
) -> None:
    first, _ = postgres_store_pair
    scheduler = AsyncIOScheduler(
        stores={"default": PostgresStore(postgres_dsn, schema=first.schema)},
        role="scheduler",
        identity="watcher",
    )

    async def listens() -> int:
        processes = {p["identity"]: p for p in await first.get_processes()}
        return processes["watcher"]["listens"] if "watcher" in processes else -1

    async def becomes(mask: int) -> None:
        with anyio.fail_after(5):
            while await listens() != mask:
                await asyncio.sleep(0.01)

    def on_pushed(event: SchedulerEvent) -> None: ...

    async with scheduler:
        assert await listens() == 0  # written by start()
        scheduler.add_listener(on_pushed, JOB_PUSHED)
        await becomes(JOB_PUSHED)
        scheduler.remove_listener(on_pushed)
        await becomes(0)


async def test_a_listener_in_another_process_hears_every_job_of_a_bulk_push(
    postgres_dsn: str, postgres_store_pair: tuple[PostgresStore, PostgresStore]
) -> None:
    schema = postgres_store_pair[0].schema

    def scheduler(identity: str) -> AsyncIOScheduler:
        store = PostgresStore(postgres_dsn, schema=schema)
        return AsyncIOScheduler(stores={"default": store}, role="scheduler", identity=identity)

    heard: list[str] = []
    watcher, pusher = scheduler("watcher"), scheduler("pusher")
    watcher.add_listener(lambda event: heard.append(event.job_id), JOB_PUSHED)
    async with watcher, pusher:
        references = await pusher.push_many([Job.from_func(FN) for _ in range(250)])
        with anyio.fail_after(5):
            while len(heard) < 250:
                await asyncio.sleep(0.01)
    assert heard == [reference.job_id for reference in references]
