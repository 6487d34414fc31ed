"""Fault-injection soak: several scheduler processes on one PostgreSQL schema, under faults.

Starts a throwaway PostgreSQL cluster (or uses `--dsn`), `--workers` processes each running
an `AsyncIOScheduler` with role `both` on one schema (short leases, so rescues happen within
the run), and a producer process pushing jobs. Two tasks fire meanwhile: a 0.5 s interval
task and an every-second cron task. While the run lasts, faults are injected at random (each
kind in turn, in a shuffled order):

- `kill`: SIGKILL of a worker that has a job running, then a restart under the same identity
  (worker `w1` is never killed, so that one process shows its memory over the whole run);
- `stop`: SIGSTOP of a busy worker for 1.5-2.5 leases, then SIGCONT;
- `pg_restart`: `pg_ctl restart` (fast or immediate) of the throwaway cluster;
- `terminate`: `pg_terminate_backend` of every connection of one worker, or of all workers;
- `pool`: a worker takes every connection of its own pool for 1.5 leases (a full pool).

The faults live in `soak_faults.py`, the processes in `soak_worker.py`. Then the faults
stop, the queue drains, and `soak_report.verdict` compares what was pushed
and due with what ran. The exit status is 1 when anything was lost or duplicated, or when a
worker ended with more connections than its pool and listener allow.

    .venv/bin/python -m benchmarks.soak --duration 60          # the CI version (about 70 s)
    .venv/bin/python -m benchmarks.soak --duration 600         # the 10-minute soak
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from benchmarks import soak_report
from benchmarks.soak_faults import ROOT, SCHEMA, Database, Faults, Slot, log, named

TASK_FN = "benchmarks.soak_worker:audited"


# ---- set-up ------------------------------------------------------------------------------


def start_cluster(args: argparse.Namespace) -> tuple[Any, Path | None]:
    """The throwaway cluster of the test suite's plugin (`tests/pg_cluster.py`)."""
    if args.dsn:
        return None, None
    from tests.pg_cluster import create_cluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="asyncz-queue-soak-"))
    cluster = create_cluster(bin_dir, root)
    # The test cluster commits asynchronously; an immediate shutdown would then lose commits
    # that clients were told about, which is not a fault of the code under test.
    with psycopg.connect(cluster.dsn, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_commit = on")
        conn.execute("SELECT pg_reload_conf()")
    return cluster, root


async def prepare(dsn: str, start_at: datetime, end_at: datetime) -> None:
    """Migrate a fresh schema, add the audit triggers and the two soak tasks."""
    from asyncz_queue import AsyncIOScheduler

    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA))
        )
    setup = AsyncIOScheduler(
        stores={"default": {"type": "postgres", "dsn": dsn, "schema": SCHEMA}},
        task_defaults={"retry_backoff": 0.2, "retry_backoff_max": 1.0},
        identity="soak-setup",
        role="scheduler",
    )
    await setup.migrate()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for statement in soak_report.audit_ddl(SCHEMA):
            await conn.execute(statement)
    await setup.start(paused=True)  # paused: it stores the tasks, the workers fire them
    try:
        common: dict[str, Any] = {
            # Some first attempts fail: a retry moves the job's scheduled_at away from its
            # run time, which must not let that run time fire again.
            "kwargs": {"sleep": -1, "fail_first": 0.1},
            "coalesce": False,  # every run time becomes a job, also after an outage...
            "mistrigger_grace_time": None,  # ...however late
            "max_instances": 50,
            "max_attempts": 3,
            "start_at": start_at,
            "end_at": end_at,
        }
        await setup.add_task(TASK_FN, "interval", id="soak-interval", seconds=0.5, **common)
        await setup.add_task(TASK_FN, "cron", id="soak-cron", second="*", **common)
    finally:
        await setup.shutdown()


def due_fires(start_at: datetime, end_at: datetime) -> dict[str, list[datetime]]:
    """Every run time of the two tasks between `start_at` and `end_at` (their triggers)."""
    from asyncz_queue.triggers import CronTrigger, IntervalTrigger

    triggers = {
        "soak-interval": IntervalTrigger(seconds=0.5, start_at=start_at, end_at=end_at),
        "soak-cron": CronTrigger(second="*", start_at=start_at, end_at=end_at),
    }
    due: dict[str, list[datetime]] = {}
    for task_id, trigger in triggers.items():
        times: list[datetime] = []
        when = trigger.get_next_trigger_time(UTC, None, start_at)
        while when is not None:
            times.append(when.astimezone(UTC))
            when = trigger.get_next_trigger_time(UTC, when, start_at)
        due[task_id] = times
    return due


# ---- the run -----------------------------------------------------------------------------


def connections(db: Database) -> dict[str, int]:
    rows = db.execute(
        "SELECT application_name, count(*) FROM pg_stat_activity "
        "WHERE application_name LIKE 'soak-%%' GROUP BY 1"
    )
    return dict(rows)


def drain(db: Database, slots: list[Slot], end_at: datetime, timeout: float) -> float:
    """Wait until no job waits or runs and both tasks are finished; returns seconds taken."""
    started = time.monotonic()
    schema = sql.Identifier(SCHEMA)
    query = sql.SQL(
        "SELECT (SELECT count(*) FROM {}.jobs WHERE state IN ('pending', 'running', 'retrying')),"
        " (SELECT count(*) FROM {}.tasks)"
    ).format(schema, schema)
    while time.monotonic() - started < timeout:
        for slot in slots:
            if not slot.alive():
                log(f"{slot.identity} died (exit {slot.proc and slot.proc.returncode}); restarting")
                slot.start()
        open_jobs, tasks = db.execute(query)[0]
        if open_jobs == 0 and tasks == 0 and datetime.now(UTC) > end_at:
            break
        time.sleep(0.5)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> int:
    cluster, root = start_cluster(args)
    dsn = args.dsn or cluster.dsn
    args.log_dir.mkdir(parents=True, exist_ok=True)
    slots: list[Slot] = []
    producer: subprocess.Popen[bytes] | None = None
    try:
        start_at = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
        end_at = start_at + timedelta(seconds=args.duration)
        asyncio.run(prepare(dsn, start_at, end_at))
        db = Database(dsn)
        env = {**os.environ, "SOAK_DSN": dsn, "SOAK_SCHEMA": SCHEMA, "PYTHONPATH": str(ROOT)}
        slots = [Slot(f"w{i + 1}", args, env) for i in range(args.workers)]
        for slot in slots:
            slot.start()
        pushed_file = args.log_dir / "pushed.txt"
        pushed_file.write_text("")
        with open(args.log_dir / "producer.log", "ab") as out:
            producer = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.soak_worker", "producer",
                 "--duration", str(args.duration), "--rate", str(args.rate),
                 "--seed", str(args.seed), "--out", str(pushed_file)],
                cwd=ROOT, stdout=out, stderr=out,
                env={**env, "SOAK_DSN": named(dsn, "soak-producer")},
            )  # fmt: skip
        log(f"{args.workers} workers and a producer started; tasks fire from {start_at:%H:%M:%S}")
        faults = Faults(args, db, slots, cluster)
        conns_first: dict[str, int] | None = None
        conns_max: Counter[str] = Counter()
        finish = time.monotonic() + 4 + args.duration
        next_fault = time.monotonic() + 4 + args.fault_every
        while time.monotonic() < finish:
            time.sleep(0.5)
            for slot in slots:
                slot.sample()
            sample = connections(db)
            for name, count in sample.items():
                conns_max[name] = max(conns_max[name], count)
            if conns_first is None and time.monotonic() > finish - args.duration + 10:
                conns_first = sample
            if time.monotonic() >= next_fault and time.monotonic() < finish - 3:
                faults.inject(faults.next_kind())
                next_fault = time.monotonic() + faults.rng.uniform(0.5, 1.5) * args.fault_every
        log("faults over; waiting for the producer and the drain")
        producer.wait(timeout=180)
        drained = drain(db, slots, end_at, args.drain)
        for slot in slots:
            slot.sample()
        conns_end = connections(db)
        pushed_ids = {line for line in pushed_file.read_text().split() if line}
        result = soak_report.verdict(db.conn, SCHEMA, pushed_ids, due_fires(start_at, end_at))
        for slot in slots:
            slot.terminate()
        return report(args, result, faults, slots, conns_first or {}, conns_max, conns_end,
                      drained)  # fmt: skip
    finally:
        for slot in slots:
            if slot.alive():
                slot.proc.kill()  # type: ignore[union-attr]
        if producer is not None and producer.poll() is None:
            producer.kill()
        if cluster is not None and not args.keep:
            cluster.stop("immediate")
            shutil.rmtree(root, ignore_errors=True)  # type: ignore[arg-type]


def report(
    args: argparse.Namespace,
    result: soak_report.Verdict,
    faults: Faults,
    slots: list[Slot],
    conns_first: dict[str, int],
    conns_max: Counter[str],
    conns_end: dict[str, int],
    drained: float,
) -> int:
    bound = args.pool_size + 1  # the pool and the LISTEN connection
    print(f"==== soak: {args.duration:.0f} s, {args.workers} workers (role both), "
          f"lease {args.lease} s, ~{args.rate} jobs/s, seed {args.seed} ====")  # fmt: skip
    soak_report.print_verdict(result)
    print(f"faults injected:             {dict(faults.counts)} (total {faults.counts.total()})")
    print(f"  details:                   {dict(sorted(faults.notes.items()))}")
    print(f"drain after the producer:    {drained:.1f} s")
    print("worker RSS (MB), start -> end:")
    for slot in slots:
        start = f"{slot.rss_start / 1024:.1f}" if slot.rss_start else "?"
        end = f"{slot.rss_end / 1024:.1f}" if slot.rss_end else "?"
        note = "never killed" if slot.generation == 1 else f"restarted {slot.generation - 1}x"
        print(f"  {slot.identity}: {start} -> {end} ({note}; current process up "
              f"{time.monotonic() - slot.started:.0f} s)")  # fmt: skip
    print(f"connections per process (bound for a worker: pool {args.pool_size} + listener 1):")
    leaks = []
    for name in sorted(set(conns_first) | set(conns_max) | set(conns_end)):
        end = conns_end.get(name, 0)
        print(f"  {name}: start {conns_first.get(name, 0)}, max {conns_max[name]}, end {end}")
        if name.startswith("soak-w") and end > bound:
            leaks.append(name)
    failed = result.lost_count or result.duplicated_count or leaks
    missing = [kind for kind in faults.kinds if faults.counts[kind] == 0]
    if missing:
        print(f"note: fault kinds never injected (run longer): {', '.join(missing)}")
    if leaks:
        print(f"CONNECTION LEAK: {', '.join(leaks)}")
    print("RESULT:", "FAIL" if failed else "PASS")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load+faults")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dsn", help="use this server instead of a throwaway cluster")
    parser.add_argument("--lease", type=float, default=2.0, help="lease_seconds of workers")
    parser.add_argument("--rate", type=float, default=15.0, help="jobs pushed per second")
    parser.add_argument("--pool-size", type=int, default=4, help="max_size of worker pools")
    parser.add_argument("--fault-every", type=float, help="mean seconds between faults")
    parser.add_argument("--drain", type=float, default=120.0, help="max seconds to drain")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the throwaway cluster")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    if args.fault_every is None:
        args.fault_every = min(8.0, max(3.5, args.duration / 75))
    if args.log_dir is None:
        args.log_dir = Path(tempfile.mkdtemp(prefix="asyncz-queue-soak-logs-"))
    log(f"logs in {args.log_dir}")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
