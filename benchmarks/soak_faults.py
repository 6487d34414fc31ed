"""The moving parts of the soak (`benchmarks/soak.py`): its database connection, the worker
processes it restarts, and the faults it injects into them and into PostgreSQL."""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo, sql

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "soak"
FAULTS = ("kill", "stop", "pg_restart", "terminate", "pool")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def named(dsn: str, application_name: str) -> str:
    """`dsn` with an `application_name`, by which the harness finds a process's backends."""
    return conninfo.make_conninfo(dsn, application_name=application_name)


class Database:
    """The harness's own connection, reopened whenever a fault closed it."""

    def __init__(self, dsn: str) -> None:
        self.dsn = conninfo.make_conninfo(dsn, application_name="soak-harness")
        self.conn: psycopg.Connection[Any] | None = None

    def execute(self, query: Any, params: Any = None, timeout: float = 60.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
                cur = self.conn.execute(query, params)
                return cur.fetchall() if cur.description is not None else []
            except psycopg.OperationalError:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class Slot:
    """One worker process, restarted in place after a SIGKILL (same identity)."""

    def __init__(self, identity: str, args: argparse.Namespace, env: dict[str, str]) -> None:
        self.identity = identity
        self.args = args
        self.env = {
            **env,
            "SOAK_DSN": conninfo.make_conninfo(
                env["SOAK_DSN"], application_name=f"soak-{identity}"
            ),
            "SOAK_AUDIT_DSN": conninfo.make_conninfo(
                env["SOAK_DSN"], application_name=f"soak-audit-{identity}"
            ),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.generation = 0
        self.rss_start: int | None = None  # kB, sampled once the process is warm
        self.rss_end: int | None = None
        self.stopped = False

    def start(self) -> None:
        self.generation += 1
        out = open(self.args.log_dir / f"{self.identity}.log", "ab")  # noqa: SIM115
        out.write(f"==== generation {self.generation} ====\n".encode())
        out.flush()
        command = [
            sys.executable, "-m", "benchmarks.soak_worker", "worker",
            "--identity", self.identity, "--lease", str(self.args.lease),
            "--max-size", str(self.args.pool_size),
        ]  # fmt: skip
        self.proc = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=out)
        out.close()
        self.started = time.monotonic()
        self.rss_start = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss(self) -> int | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def sample(self) -> None:
        if not self.alive() or self.stopped:
            return
        rss = self.rss()
        if self.rss_start is None and time.monotonic() - self.started > 10:
            self.rss_start = rss
        self.rss_end = rss

    def terminate(self) -> None:
        if self.proc is None:
            return
        if self.stopped:
            os.kill(self.pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- faults ------------------------------------------------------------------------------


class Faults:
    """Injects one fault at a time and counts them."""

    def __init__(self, args: argparse.Namespace, db: Database, slots: list[Slot], cluster: Any):
        self.args = args
        self.db = db
        self.slots = slots
        self.cluster = cluster
        self.rng = random.Random(args.seed)
        self.counts: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()
        kinds = [kind for kind in FAULTS if kind != "pg_restart" or cluster is not None]
        self.kinds = kinds
        self._bag: list[str] = []

    def next_kind(self) -> str:
        if not self._bag:
            self._bag = list(self.kinds)
            self.rng.shuffle(self._bag)
        return self._bag.pop()

    def busy_slot(self, killable: bool = False) -> tuple[Slot, int]:
        """A live worker with running jobs if there is one, and how many it runs."""
        running = dict(
            self.db.execute(
                sql.SQL(
                    "SELECT worker_id, count(*) FROM {}.jobs WHERE state = 'running' GROUP BY 1"
                ).format(sql.Identifier(SCHEMA))
            )
        )
        candidates = [
            s
            for s in self.slots
            if s.alive() and not s.stopped and (not killable or s.identity != "w1")
        ]
        busy = [s for s in candidates if running.get(s.identity, 0) > 0]
        slot = self.rng.choice(busy or candidates)
        return slot, running.get(slot.identity, 0)

    def inject(self, kind: str) -> None:
        getattr(self, f"_{kind}")()
        self.counts[kind] += 1

    def _kill(self) -> None:
        slot, running = self.busy_slot(killable=True)
        self.notes["kill: mid-job" if running else "kill: idle"] += 1
        log(f"fault kill {slot.identity} (pid {slot.pid}, {running} job(s) running)")
        os.kill(slot.pid, signal.SIGKILL)
        assert slot.proc is not None
        slot.proc.wait()
        time.sleep(self.rng.uniform(0.3, 1.5))
        slot.start()

    def _stop(self) -> None:
        slot, running = self.busy_slot()
        pause = self.args.lease * self.rng.uniform(1.5, 2.5)
        self.notes["stop: mid-job" if running else "stop: idle"] += 1
        log(f"fault stop {slot.identity} for {pause:.1f} s ({running} job(s) running)")
        os.kill(slot.pid, signal.SIGSTOP)
        slot.stopped = True
        time.sleep(pause)
        os.kill(slot.pid, signal.SIGCONT)
        slot.stopped = False

    def _pg_restart(self) -> None:
        mode = self.rng.choice(("fast", "immediate"))
        self.notes[f"pg_restart: {mode}"] += 1
        log(f"fault pg_restart ({mode})")
        started = time.monotonic()
        self.cluster.restart(mode)
        log(f"  server back after {time.monotonic() - started:.1f} s")

    def _terminate(self) -> None:
        if self.rng.random() < 0.5:
            slot, _ = self.busy_slot()
            pattern, what = f"soak-{slot.identity}", slot.identity
        else:
            pattern, what = "soak-w%", "all workers"
        rows = self.db.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE %s",
            (pattern,),
        )
        self.notes["terminate: one worker" if "%" not in pattern else "terminate: all"] += 1
        log(f"fault terminate {what}: {rows[0][0]} backend(s)")

    def _pool(self) -> None:
        slot, _ = self.busy_slot()
        log(f"fault pool {slot.identity}: holds its whole pool for {self.args.lease * 1.5:.1f} s")
        os.kill(slot.pid, signal.SIGUSR1)
