"""The command line as users run it: the real console script in a subprocess.

The worker runs `tests.integration.cli_app:scheduler`, configured through environment
variables (see that module). Every wait polls with a deadline; no sleep is an assertion.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from anyio import to_thread
from psycopg import sql

from asyncz_queue import AsyncIOScheduler, Job, JobState
from asyncz_queue.stores import PostgresStore
from tests.integration.cli_app import held, record
from tests.pg_cluster import unique_schema

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("asyncz-queue")
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "asyncz_queue"]
APP = "tests.integration.cli_app:scheduler"


def environment(**extra: str) -> dict[str, str]:
    """The test's environment without a configured database, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLI_APP_")}
    env.pop("ASYNCZ_QUEUE_DSN", None)
    return {**env, **extra}


def run_cli(*args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `asyncz-queue ARGS` to completion in the repository root."""
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=environment(**env),
    )


def wait_until(condition: Callable[[], object], timeout: float = 15, what: str = "") -> None:
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.05)


def lines_of(path: Path) -> list[str]:
    """The lines a job wrote to `path` so far."""
    return path.read_text().splitlines() if path.exists() else []


class WorkerProcess:
    """`asyncz-queue worker APP` in a subprocess; its stderr is read line by line."""

    def __init__(self, *args: str, stdout: int | None = subprocess.DEVNULL, **env: str) -> None:
        self.process = subprocess.Popen(
            [*COMMAND, "worker", APP, *args],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=environment(**env),
        )
        self.stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._lines.put(line)

    def collect(self) -> str:
        """Everything written to stderr so far."""
        while not self._lines.empty():
            self.stderr.append(self._lines.get_nowait())
        return "".join(self.stderr)

    def wait_for_stderr(self, text: str, timeout: float = 15) -> None:
        """Wait until `text` appears on stderr."""
        wait_until(lambda: text in self.collect(), timeout, f"{text!r} on stderr")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 15) -> int:
        """The exit status, waiting at most `timeout` seconds."""
        status = self.process.wait(timeout)
        self._reader.join(5)  # stderr is read to its end
        self.collect()
        return status

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes started by a test; any still alive at the end are killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def start_worker(
    workers: list[WorkerProcess], tmp_path: Path
) -> Callable[..., tuple[WorkerProcess, Path]]:
    """Start a worker whose jobs write to a fresh file; returns it and the file."""

    def start(*args: str, **env: str) -> tuple[WorkerProcess, Path]:
        out = tmp_path / f"out-{len(workers)}.txt"
        worker = WorkerProcess(*args, CLI_APP_OUT=str(out), **env)
        workers.append(worker)
        return worker, out

    return start


# ---- worker (memory store) ---------------------------------------------------------------


def test_worker_runs_its_tasks_and_exits_zero_on_sigterm(
    start_worker: Callable[..., tuple[WorkerProcess, Path]],
) -> None:
    worker, out = start_worker(CLI_APP_BEAT="0.1")
    wait_until(lambda: len(lines_of(out)) >= 3, what="three beats")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.stderr
    stderr = worker.collect()
    assert "SIGTERM received" in stderr and "worker stopped" in stderr
    assert "Traceback" not in stderr


def test_worker_lets_a_running_job_finish_before_exiting(
    start_worker: Callable[..., tuple[WorkerProcess, Path]],
) -> None:
    worker, out = start_worker(CLI_APP_SLOW="1.0")
    wait_until(lambda: "started" in lines_of(out), what="the slow job to start")
    worker.signal(signal.SIGINT)
    assert worker.wait() == 0, worker.collect()
    assert lines_of(out) == ["started", "finished"]
    assert "waiting up to 30 s for 1 running job(s)" in worker.collect()


def test_worker_interrupts_jobs_that_outlast_the_grace_period(
    start_worker: Callable[..., tuple[WorkerProcess, Path]],
) -> None:
    worker, out = start_worker("--grace", "0.3", CLI_APP_SLOW="60")
    wait_until(lambda: "started" in lines_of(out), what="the slow job to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=10) == 0, worker.collect()
    assert "interrupted 1 job(s); they will run again" in worker.collect()
    assert lines_of(out) == ["started"]


def test_a_second_signal_exits_at_once(
    start_worker: Callable[..., tuple[WorkerProcess, Path]],
) -> None:
    worker, out = start_worker(CLI_APP_SLOW="60")
    wait_until(lambda: "started" in lines_of(out), what="the slow job to start")
    worker.signal(signal.SIGTERM)
    worker.wait_for_stderr("send the signal again to exit at once")
    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=5) == 128 + signal.SIGTERM
    assert "exiting now" in worker.collect()


def test_worker_shows_a_progress_line_only_on_a_terminal(
    workers: list[WorkerProcess], tmp_path: Path
) -> None:
    out = tmp_path / "out.txt"
    controller, terminal = pty.openpty()
    worker = WorkerProcess(stdout=terminal, CLI_APP_OUT=str(out), CLI_APP_BEAT="0.1")
    workers.append(worker)
    os.close(terminal)
    shown = b""

    def progress_counts_a_job() -> bool:
        nonlocal shown
        if select.select([controller], [], [], 0.1)[0]:
            shown += os.read(controller, 4096)
        return b"succeeded 0" not in shown.rsplit(b"\r", 1)[-1] and b"succeeded" in shown

    try:
        wait_until(progress_counts_a_job, what="a progress line counting a finished job")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
    finally:
        os.close(controller)
    assert b"running " in shown and b"up " in shown
    # Piped (as in the other tests), stdout stays empty: no control characters in logs.
    piped = WorkerProcess(stdout=subprocess.PIPE, CLI_APP_OUT=str(out), CLI_APP_BEAT="0.1")
    workers.append(piped)
    wait_until(lambda: "started" in piped.collect() or piped.process.poll(), what="start")
    piped.signal(signal.SIGTERM)
    stdout, _ = piped.process.communicate(timeout=15)
    assert piped.process.returncode == 0 and stdout == ""


# ---- bad input ---------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["worker", "nosuch.module:app"], "no module named 'nosuch'"),
        (["worker", "tests.integration.cli_app:not_a_scheduler"], "not an AsyncIOScheduler"),
        (["worker", "tests.integration.cli_app:missing"], "has no attribute 'missing'"),
        (["worker", "tests.integration.cli_app"], "must look like 'package.module:attribute'"),
        (["tasks"], "no database given"),
        (["jobs", "--dsn", "postgresql://bob:s3cret@127.0.0.1:{port}/db"], "cannot connect"),
        (["status", "--dsn", "host=127.0.0.1 port={port} user=bob password=s3cret"], "cannot"),
        (["migrate", "--dsn", "postgresql://bob:s3cret@[::1:oops/db"], "cannot"),
    ],
    ids=[
        "no-module",
        "not-a-scheduler",
        "no-attribute",
        "no-colon",
        "no-dsn",
        "url-dsn",
        "keyword-dsn",
        "malformed-dsn",
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_line(args: list[str], expected: str) -> None:
    port = str(free_port())
    done = run_cli(*(arg.replace("{port}", port) for arg in args))
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["jobs", "--limit", "-3"], "argument --limit: expected a whole number >= 0 and at most"),
        (["jobs", "--limit", "many"], "argument --limit: expected a whole number, got 'many'"),
        (
            ["jobs", "--limit", "99999999999999999999"],
            "argument --limit: expected a whole number >= 0 and at most 2147483647",
        ),
        (["jobs", "prune", "--older-than", "-1"], "expected a number of seconds >= 0 and at"),
        (["jobs", "prune", "--older-than", "1e12"], "at most 315360000, got '1e12'"),
        (["jobs", "prune", "--older-than", "nan"], "expected a number of seconds >= 0 and at"),
        (["worker", "app:x", "--grace", "inf"], "argument --grace: expected a number of seconds"),
        (["jobs", "--state", "bogus"], "argument --state: invalid choice: 'bogus'"),
    ],
)
def test_bad_arguments_are_refused_before_anything_connects(args: list[str], expected: str) -> None:
    done = run_cli(*args, "--dsn", "host=127.0.0.1 port=1 user=nobody")
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and "cannot connect" not in done.stderr


def test_help_describes_every_subcommand() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for name in ("demo", "worker", "migrate", "tasks", "jobs", "status"):
        assert name in done.stdout
    prune = run_cli("jobs", "prune", "--help")
    assert prune.returncode == 0 and "--older-than" in prune.stdout


def test_inspection_can_read_the_store_of_an_app() -> None:
    done = run_cli("status", "--app", APP, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["executors"] == {} and report["tasks"]["total"] == 0


# ---- against PostgreSQL ------------------------------------------------------------------


@pytest.fixture
def database(postgres_dsn: str) -> Iterator[tuple[str, str]]:
    """A DSN and a fresh schema, migrated with `asyncz-queue migrate`; dropped afterwards."""
    schema = unique_schema()
    done = run_cli("migrate", "--dsn", postgres_dsn, "--schema", schema)
    assert done.returncode == 0, done.stderr
    yield postgres_dsn, schema
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def pusher(dsn: str, schema: str, role: str = "scheduler") -> AsyncIOScheduler:
    """A scheduler of the test process on the database (by default it runs no jobs)."""
    store = PostgresStore(dsn, schema=schema, max_size=2)
    return AsyncIOScheduler(stores={"default": store}, role=role)  # type: ignore[arg-type]


def cli_json(*args: str, **env: str) -> object:
    """Run `asyncz-queue ARGS --json` and parse what it printed."""
    done = run_cli(*args, "--json", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.postgres
def test_migrate_is_idempotent(database: tuple[str, str]) -> None:
    dsn, schema = database
    again = run_cli("migrate", "--schema", schema, ASYNCZ_QUEUE_DSN=dsn)
    assert again.returncode == 0, again.stderr
    assert f"schema {schema!r} is up to date" in again.stdout
    assert cli_json("tasks", "--dsn", dsn, "--schema", schema) == []


@pytest.mark.postgres
@pytest.mark.anyio
async def test_worker_runs_jobs_pushed_by_another_process_and_stops_cleanly(
    database: tuple[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    dsn, schema = database
    out = tmp_path / "out.txt"
    worker = WorkerProcess(
        CLI_APP_DSN=dsn, CLI_APP_SCHEMA=schema, CLI_APP_OUT=str(out), CLI_APP_IDENTITY="cli-w1"
    )
    workers.append(worker)
    where = ("--dsn", dsn, "--schema", schema)
    async with pusher(dsn, schema) as scheduler:
        refs = await scheduler.push_many(
            [Job.from_func(record, args=[f"job {n}"]) for n in range(5)]
        )
        for ref in refs:
            assert (await ref.wait(timeout=20)).state is JobState.SUCCEEDED
        release = tmp_path / "release"
        slow_ref = await scheduler.push(held, str(release))
        await to_thread.run_sync(wait_until, lambda: "started" in lines_of(out))
        status = cli_json("status", *where)
        processes = {entry["identity"]: entry for entry in status["processes"]}  # type: ignore[index]
        assert processes["cli-w1"]["running"] == 1
        worker.signal(signal.SIGTERM)  # it stops once the running job has finished
        release.touch()
        assert await to_thread.run_sync(worker.wait) == 0, worker.collect()
        slow_job = await slow_ref.get()
        assert slow_job.state is JobState.SUCCEEDED and slow_job.result == "finished"
        assert await scheduler.get_jobs(state=JobState.RUNNING) == []
        done = await scheduler.get_jobs(state=JobState.SUCCEEDED)
    assert len(done) == 6 and {job.worker_id for job in done} == {"cli-w1"}
    assert sorted(lines_of(out)) == sorted([*(f"job {n}" for n in range(5)), "started", "finished"])


@pytest.mark.postgres
@pytest.mark.anyio
async def test_tasks_jobs_and_status_show_what_is_in_the_database(
    database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    dsn, schema = database
    monkeypatch.setenv("CLI_APP_OUT", str(tmp_path / "out.txt"))  # the jobs run here
    async with pusher(dsn, schema, role="both") as scheduler:
        await scheduler.add_task(record, "cron", hour=3, id="nightly", args=["night"])
        await scheduler.add_task(record, "interval", minutes=5, id="idle", next_run_time=None)
        good = await (await scheduler.push(record, "ok")).wait(timeout=20)
        bad = await (await scheduler.push(Job.from_func(record, args=[]))).wait(timeout=20)
    assert good.state is JobState.SUCCEEDED and bad.state is JobState.FAILED

    listed = run_cli("tasks", "--schema", schema, ASYNCZ_QUEUE_DSN=dsn)
    assert listed.returncode == 0, listed.stderr
    nightly = next(line for line in listed.stdout.splitlines() if line.startswith("nightly"))
    assert "cron hour=3" in nightly and "cli_app:record" in nightly
    idle = next(line for line in listed.stdout.splitlines() if line.startswith("idle"))
    assert "every 5m00s" in idle and " yes " in idle
    tasks = cli_json("tasks", "--dsn", dsn, "--schema", schema)
    assert {task["id"] for task in tasks} == {"nightly", "idle"}  # type: ignore[union-attr]

    where = ("--dsn", dsn, "--schema", schema)
    jobs = run_cli("jobs", *where)
    assert good.id in jobs.stdout and bad.id in jobs.stdout and "TypeError" in jobs.stdout
    failed = cli_json("jobs", "--state", "failed", *where)
    assert [job["id"] for job in failed] == [bad.id]  # type: ignore[union-attr]
    assert cli_json("jobs", "--task", "nightly", *where) == []
    shown = run_cli("jobs", "--id", bad.id, *where)
    assert "state      failed" in shown.stdout and "--- failed attempt 1 ---" in shown.stdout
    assert "TypeError" in shown.stdout
    missing = run_cli("jobs", "--id", "no-such-job", *where)
    assert missing.returncode == 1 and "no job with id 'no-such-job'" in missing.stderr

    status = cli_json("status", *where)
    assert status["executors"]["default"]["failed_last_hour"] == 1  # type: ignore[index]
    assert status["tasks"]["total"] == 2 and status["tasks"]["paused"] == 1  # type: ignore[index]
    assert "default" in run_cli("status", *where).stdout

    pruned = cli_json("jobs", *where, "prune", "--older-than", "0")
    assert pruned["pruned"] == 2  # type: ignore[index]
    assert cli_json("jobs", *where) == []


@pytest.mark.postgres
def test_wrong_database_details_fail_with_one_line(
    postgres_cluster: Any, database: tuple[str, str]
) -> None:
    dsn, _schema = database
    cases = [(["tasks", "--dsn", dsn, "--schema", "never_migrated"], "migrate")]
    if postgres_cluster.tcp_dsn:
        wrong = f"{postgres_cluster.tcp_dsn} password=not-the-password"
        cases.append((["jobs", "--dsn", wrong], "password authentication failed"))
        cases.append((["status", "--dsn", f"{dsn} dbname=nosuchdb"], "nosuchdb"))
    for args, expected in cases:
        done = run_cli(*args)
        assert done.returncode == 1, done
        assert done.stderr.count("\n") == 1 and expected in done.stderr, done.stderr
        assert "not-the-password" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["worker", "nosuch.module:app"],
        ["worker", "tests.integration.cli_app:missing"],
        ["demo", "--seconds", "nan"],
        ["demo", "--seconds", "-1"],
    ],
)
def test_a_wrong_app_or_demo_duration_is_bad_input(args: list[str]) -> None:
    done = run_cli(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip()


def test_a_demo_of_no_seconds_runs_its_jobs_and_exits_cleanly() -> None:
    done = run_cli("demo", "--seconds", "0")
    assert done.returncode == 0, done.stderr
    assert "summary (events by kind)" in done.stdout
