"""PostgreSQL with real OS processes: no fire and no job runs twice, none is lost.

Each test starts scheduler processes (`tests/integration/pg_procs.py`) on a fresh schema
of the session's server; every attempt they run is logged to a file per process.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from asyncz_queue.jobs import Job, JobState, utcnow
from asyncz_queue.stores.postgres import PostgresStore
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import IntervalTrigger
from tests.integration.pg_procs import read_handed, read_log
from tests.pg_cluster import PostgresCluster, unique_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROCS = "tests.integration.pg_procs"


class Processes:
    """Scheduler processes on one schema; stopped (SIGTERM, then SIGKILL) at the end."""

    def __init__(self, dsn: str, schema: str, log_dir: Path) -> None:
        self.dsn, self.schema, self.log_dir = dsn, schema, log_dir
        self.procs: list[subprocess.Popen[str]] = []

    def start(
        self, count: int, role: str, lease_seconds: float = 30.0, max_workers: int = 100
    ) -> list[int]:
        """Start `count` processes and wait until each has started its scheduler."""
        started = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    PROCS,
                    self.dsn,
                    self.schema,
                    role,
                    str(self.log_dir),
                    str(lease_seconds),
                    str(max_workers),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        self.procs += started
        for proc in started:
            assert proc.stdout is not None
            line = _readline(proc.stdout, timeout=60)
            assert line.strip() == "ready", f"process {proc.pid} did not start: {line!r}"
        return [proc.pid for proc in started]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _readline(stream: Any, timeout: float) -> str:
    found: list[str] = []
    reader = threading.Thread(target=lambda: found.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return found[0] if found else ""


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    """A fresh, migrated schema, dropped afterwards."""
    name = unique_schema()
    asyncio.run(PostgresStore(postgres_dsn, schema=name).migrate())
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def processes(postgres_dsn: str, schema: str, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(postgres_dsn, schema, tmp_path)
    yield procs
    procs.stop()


def with_store(dsn: str, schema: str, action: Callable[[PostgresStore], Any]) -> Any:
    """Run `await action(store)` on a started store of `schema`."""

    async def run() -> Any:
        store = PostgresStore(dsn, schema=schema, listen=False, max_size=2)
        await store.start("test-driver")
        try:
            return await action(store)
        finally:
            await store.shutdown()

    return asyncio.run(run())


def job_states(dsn: str, schema: str) -> Counter[str]:
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT state, count(*) FROM {}.jobs GROUP BY state")
        return Counter(dict(conn.execute(query.format(sql.Identifier(schema))).fetchall()))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_three_schedulers_fire_every_interval_time_exactly_once(
    postgres_dsn: str, schema: str, processes: Processes
) -> None:
    processes.start(3, "both")
    start = utcnow() + timedelta(seconds=0.5)
    task = Task(
        id="tick",
        fn=f"{PROCS}:record",
        trigger=IntervalTrigger(seconds=0.2, start_at=start),
        next_run_time=start,
        mistrigger_grace_time=5,
    )
    with_store(postgres_dsn, schema, lambda store: store.add_task(task))
    time.sleep(10.5)
    processes.stop()
    ran = Counter(datetime.fromisoformat(fields[2]) for fields in read_log(processes.log_dir))
    assert ran and max(ran.values()) == 1, "a fire time ran twice"
    times = sorted(ran)
    assert len(times) >= 45
    gaps = {round((b - a).total_seconds(), 6) for a, b in itertools.pairwise(times)}
    assert gaps == {0.2}, f"missed fire times: {sorted(gaps)}"
    assert len({fields[4] for fields in read_log(processes.log_dir)}) >= 2


def test_three_workers_run_5000_pushed_jobs_exactly_once(
    postgres_dsn: str, schema: str, processes: Processes
) -> None:
    processes.start(3, "worker")
    jobs = [Job.from_func(f"{PROCS}:record") for _ in range(5000)]
    with_store(postgres_dsn, schema, lambda store: store.add_jobs(jobs))
    wait_until(lambda: job_states(postgres_dsn, schema)["succeeded"] == 5000, 90, "the drain")
    ran = Counter(fields[1] for fields in read_log(processes.log_dir))
    assert ran.keys() == {job.id for job in jobs}
    assert set(ran.values()) == {1}
    by_process = Counter(fields[4] for fields in read_log(processes.log_dir))
    assert len(by_process) == 3, f"not every worker got work: {by_process}"


def offering(dsn: str, schema: str) -> int:
    """How many workers offer free slots (see the hand-over in `ADD_NEW_JOB`)."""
    with psycopg.connect(dsn) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.offers WHERE free > 0 AND until > now()")
        return conn.execute(query.format(sql.Identifier(schema))).fetchone()[0]  # type: ignore[index]


async def push(store: PostgresStore, jobs: list[Job], hand_over: bool) -> None:
    """Push `jobs` one at a time; inside a transaction of ours, so that none is handed over
    to an idle worker, unless `hand_over`."""
    for job in jobs:
        if hand_over:
            await store.add_jobs([job])
        else:
            async with await store.connect() as conn, conn.transaction():
                await store.add_jobs([job], connection=conn)


def test_three_workers_run_jobs_pushed_one_at_a_time_exactly_once_handed_over_or_claimed(
    postgres_dsn: str, schema: str, processes: Processes
) -> None:
    processes.start(3, "worker")
    wait_until(lambda: offering(postgres_dsn, schema) == 3, 30, "the idle workers' offers")
    jobs = [Job.from_func(f"{PROCS}:record") for _ in range(600)]
    with_store(postgres_dsn, schema, lambda store: push(store, jobs, hand_over=True))
    wait_until(lambda: job_states(postgres_dsn, schema)["succeeded"] == 600, 60, "the jobs")
    log = read_log(processes.log_dir)
    assert Counter(fields[1] for fields in log) == Counter(job.id for job in jobs)
    # Each job handed over ran in the process it was handed to, and only there.
    handed = read_handed(processes.log_dir)
    where = {fields[1]: fields[4] for fields in log}
    assert handed, "no job was handed over"
    assert all(where[job_id] == pid for pid, ids in handed.items() for job_id in ids)
    assert sum(map(len, handed.values())) == len(set().union(*handed.values()))


@pytest.mark.parametrize("hand_over", [True, False], ids=["handed-over", "claimed"])
def test_a_job_of_a_killed_worker_is_retried_elsewhere_and_its_late_completion_is_fenced(
    postgres_dsn: str, schema: str, processes: Processes, hand_over: bool
) -> None:
    pids = processes.start(2, "worker", lease_seconds=1.5)
    wait_until(lambda: offering(postgres_dsn, schema) == 2, 30, "the idle workers' offers")
    job = Job.from_func(f"{PROCS}:slow_first", args=(60,), max_attempts=2)
    with_store(postgres_dsn, schema, lambda store: push(store, [job], hand_over))
    wait_until(lambda: len(read_log(processes.log_dir)) >= 1, 30, "the first attempt")
    [[_, _, _, attempt, victim]] = read_log(processes.log_dir)
    assert attempt == "1" and int(victim) in pids
    assert (job.id in read_handed(processes.log_dir).get(victim, [])) is hand_over
    os.kill(int(victim), signal.SIGKILL)
    wait_until(lambda: job_states(postgres_dsn, schema)["succeeded"] == 1, 30, "the retry")
    stored: Job = with_store(postgres_dsn, schema, lambda store: store.get_job(job.id))
    assert (stored.state, stored.attempts, stored.error_type) == (
        JobState.SUCCEEDED,
        2,
        "WorkerLost",
    )
    survivor = {str(pid) for pid in pids} - {victim}
    log = read_log(processes.log_dir)
    assert [(f[0], f[3], f[4]) for f in log if f[4] in survivor] == [
        ("start", "2", *survivor),
        ("end", "2", *survivor),
    ]
    # The killed worker's attempt, completed late (as if it had only been paused): fenced.
    first_attempt = stored.evolve(
        attempts=1, state=JobState.RUNNING, worker_id=stored.worker_id
    ).after_success("late", utcnow())
    assert (
        with_store(
            postgres_dsn, schema, lambda store: store.complete_jobs("anyone", [first_attempt])
        )
        == []
    )


def test_every_job_finishes_exactly_once_across_a_server_restart(
    postgres_cluster: PostgresCluster, schema: str, processes: Processes
) -> None:
    if not postgres_cluster.throwaway:
        pytest.skip("restarts the server: needs the throwaway cluster")
    dsn = postgres_cluster.dsn
    processes.start(2, "worker", max_workers=20)
    jobs = [Job.from_func(f"{PROCS}:sleepy", args=(0.05,), max_attempts=2) for _ in range(1500)]
    with_store(dsn, schema, lambda store: store.add_jobs(jobs))
    wait_until(lambda: len(read_log(processes.log_dir)) >= 200, 60, "the first jobs")
    postgres_cluster.restart()
    assert len(read_log(processes.log_dir)) < 1000, "the restart came too late to matter"
    wait_until(lambda: job_states(dsn, schema)["succeeded"] == 1500, 90, "the drain")
    ran = Counter(fields[1] for fields in read_log(processes.log_dir))
    assert ran.keys() == {job.id for job in jobs}
    assert set(ran.values()) == {1}, "a job ran twice"
