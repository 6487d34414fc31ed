"""Where the enqueue-to-start latency of the PostgreSQL store goes, step by step.

`bench_postgres.py` gives one figure per system (push call to job start); this script splits
ours into the steps between them, so that work on the latency goal can aim at the longest:

- push returned: the push call's own round trip (insert, announcement, commit);
- handed over: the worker process receives the job itself over LISTEN/NOTIFY (the push took
  the worker's offer of a free slot), and starts it without a claim;
- woken: or the worker process hears of the push over LISTEN/NOTIFY;
- claim began / claim returned: its `acquire_jobs` call (one statement, then loading rows);
- started: the job function runs.

An idle worker process (role `worker`) on a throwaway cluster; this process (role
`scheduler`) pushes one no-op job at a time, `--gap` seconds apart. Every step is timed on
`time.monotonic()`, which both processes read from the same clock, from the moment the push
call began; each step counts the first mark of its kind before the next push began (a push
that was handed over has no woken or claim steps; `n` says how many pushes had the step).

    .venv/bin/python -m benchmarks.bench_latency_parts [--samples 300] [--gap 0.01] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import statistics
import sys
import time
from datetime import datetime

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.stores import Acquired, Notification
from asyncz_queue.stores.postgres import PostgresStore
from benchmarks.bench_postgres import Child, create_database, server

STEPS = ("push returned", "handed over", "woken", "claim began", "claim returned", "started")
#: (step, monotonic time) in the worker process.
marks: list[tuple[str, float]] = []


async def noop() -> None:
    """The job: marks its start and does nothing else."""
    marks.append(("started", time.monotonic()))


class TimedStore(PostgresStore):
    """A `PostgresStore` that marks when it is woken for jobs and when it claims them."""

    def notify(self, notification: Notification) -> None:
        if notification.kind == "jobs":
            marks.append(("woken", time.monotonic()))
        elif notification.kind == "handoff":
            marks.append(("handed over", time.monotonic()))
        super().notify(notification)

    async def acquire_jobs(
        self, worker_id: str, limits: dict[str, int], now: datetime, lease_seconds: float
    ) -> Acquired:
        began = time.monotonic()
        acquired = await super().acquire_jobs(worker_id, limits, now, lease_seconds)
        if acquired.jobs:  # the empty claims of an idle loop mark nothing
            marks.extend((("claim began", began), ("claim returned", time.monotonic())))
        return acquired


async def worker_main(dsn: str) -> None:
    """In the child: serve jobs until a line arrives on stdin, then print the marks."""
    async with AsyncIOScheduler(stores={"default": TimedStore(dsn)}, role="worker"):
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    print("marks " + json.dumps(marks), flush=True)


def split(
    pushes: list[tuple[float, float]], worker: list[tuple[str, float]]
) -> dict[str, list[float]]:
    """Milliseconds from each push call to each step, by step."""
    by_step: dict[str, list[float]] = {step: [] for step in STEPS}
    times = {step: sorted(t for name, t in worker if name == step) for step in STEPS}
    ends = [began for began, _ in pushes[1:]] + [float("inf")]
    for (began, returned), end in zip(pushes, ends, strict=True):
        by_step["push returned"].append((returned - began) * 1000)
        for step in STEPS[1:]:
            first = bisect.bisect_left(times[step], began)
            if first < len(times[step]) and times[step][first] < end:
                by_step[step].append((times[step][first] - began) * 1000)
    return by_step


async def main(args: argparse.Namespace) -> None:
    with server(args.dsn) as server_dsn:
        dsn = await create_database(server_dsn, "bench_latency_parts")
        pusher = AsyncIOScheduler(stores={"default": PostgresStore(dsn)}, role="scheduler")
        await pusher.migrate()
        child = Child("-m", "benchmarks.bench_latency_parts", "worker", dsn)
        child.expect("ready")
        pushes: list[tuple[float, float]] = []
        async with pusher:
            for _ in range(args.samples):
                began = time.monotonic()
                await pusher.push(noop)
                pushes.append((began, time.monotonic()))
                await asyncio.sleep(args.gap)
            await asyncio.sleep(0.5)  # the last job starts
        child.send("")
        worker_marks = json.loads(child.last("marks "))
        report(split(pushes, [tuple(mark) for mark in worker_marks]), args.samples)


def report(by_step: dict[str, list[float]], samples: int) -> None:
    print(f"push to step, ms ({samples} pushes, one at a time, idle worker process)")
    print(
        f"{'step':<16} {'n':>5} {'p50':>7} {'p90':>7} {'p99':>7} {'p50 since the step before':>27}"
    )
    previous = 0.0
    for step, values in by_step.items():
        if len(values) < 2:
            print(f"{step:<16} {len(values):5}")
            continue
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        p50 = cuts[49]
        since = "" if step == "push returned" else f"{p50 - previous:27.2f}"
        print(f"{step:<16} {len(values):5} {p50:7.2f} {cuts[89]:7.2f} {cuts[98]:7.2f} {since}")
        if step != "push returned":
            previous = p50


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="an existing server (default: a throwaway cluster)")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between pushes")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        asyncio.run(worker_main(sys.argv[2]))
    else:
        asyncio.run(main(parse(sys.argv[1:])))
