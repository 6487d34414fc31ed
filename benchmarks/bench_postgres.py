"""asyncz_queue's PostgreSQL store beside PgQueuer and Procrastinate, in one run.

    .venv/bin/python benchmarks/bench_postgres.py [--dsn DSN] [--jobs 10000] [--rounds 3] ...

Without `--dsn` it starts a throwaway cluster (the test suite's, `tests/pg_cluster.py`)
and removes it afterwards. Each system gets a database of its own on the same server and
the same workload of no-op jobs:

- push, one call at a time (`--single` jobs) and in bulk (`--jobs` in one call, through
  the public API and through the storage layer where that differs — asyncz_queue's
  `scheduler.push_many` also builds and broadcasts one event per job — `--bulk-pushes`
  times each, taking turns, on a database of their own; the median counts);
- drain: one worker process runs `2 * --jobs + 200` queued jobs; timed from its start to
  the moment their outcomes are stored;
- latency: with an idle worker process, `--latency` jobs are pushed one at a time; each
  records how long after the push call it started (p50 / p99).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from bench_systems import SYSTEMS, System, latencies  # noqa: E402

# ---- the worker process ------------------------------------------------------------------


async def _line() -> str:
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


async def worker_main(system_name: str, dsn: str, mode: str, count: int) -> None:
    """Run in a child process: `ready` -> wait for `go` -> work -> print `result <json>`."""
    system = SYSTEMS[system_name](dsn)
    started: list[float] = []

    async def go() -> str:
        print("ready", flush=True)
        line = await _line()
        started.append(time.perf_counter())
        return line

    if mode == "drain":
        await system.drain(count, go)
        result: dict[str, Any] = {"seconds": time.perf_counter() - started[0]}
    else:
        await system.serve(go, _line)
        result = {"latencies": latencies}
    print("result " + json.dumps(result), flush=True)


class Child:
    """A Python child process driven over its stdin/stdout (`python *args`): this script's
    worker, or another benchmark's."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )

    def expect(self, prefix: str) -> str:
        """The rest of the first line it prints that starts with `prefix`."""
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"child exited (code {self.proc.wait()}) before {prefix!r}")
            if line.startswith(prefix):
                return line[len(prefix) :].strip()

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def last(self, prefix: str, timeout: float = 60) -> str:
        """`expect(prefix)`, then wait for the child to exit."""
        rest = self.expect(prefix)
        self.proc.wait(timeout=timeout)
        return rest


def worker(system: str, dsn: str, mode: str, count: int = 0) -> Child:
    """This script's worker child (see `worker_main`), once it is ready."""
    child = Child(__file__, "worker", system, dsn, mode, str(count))
    child.expect("ready")
    return child


# ---- the measurements --------------------------------------------------------------------


async def bulk_rates(system: System, args: argparse.Namespace) -> dict[str, float]:
    """The two bulk-push figures, on a database of their own (not drained).

    One bulk push lasts a fifth of a second, and a checkpoint or an autovacuum landing in
    it moves it by half: the median of `--bulk-pushes` of each, taking turns, moves less.
    """
    await system.setup()
    store_rates: list[float] = []
    public_rates: list[float] = []
    async with await system.pusher() as pusher:
        await pusher.push_many_store(100)  # connections opened, statements prepared
        await pusher.push_many(100)  # the public path too
        for _ in range(args.bulk_pushes):
            started = time.perf_counter()
            await pusher.push_many_store(args.jobs)
            store_rates.append(args.jobs / (time.perf_counter() - started))
            started = time.perf_counter()
            await pusher.push_many(args.jobs)
            public_rates.append(args.jobs / (time.perf_counter() - started))
    return {
        "bulk push, store jobs/s": statistics.median(store_rates),
        "bulk push jobs/s": statistics.median(public_rates),
    }


async def measure(
    key: str, server_dsn: str, args: argparse.Namespace
) -> tuple[str, dict[str, float]]:
    """The system's name and its every figure, on fresh databases of its own."""
    name = "bench_" + key.replace("-", "_")
    figures = await bulk_rates(
        SYSTEMS[key](await create_database(server_dsn, name + "_bulk")), args
    )
    system = SYSTEMS[key](await create_database(server_dsn, name))
    await system.setup()
    jobs = 2 * args.jobs + 200
    async with await system.pusher() as pusher:
        await pusher.push_many_store(jobs)  # the queue the worker drains
    drainer = worker(args.system_key, system.dsn, "drain", jobs)
    drainer.send("go")
    figures["drain jobs/s"] = jobs / json.loads(drainer.last("result "))["seconds"]
    serving = worker(args.system_key, system.dsn, "serve")
    serving.send("go")
    async with await system.pusher() as pusher:
        await asyncio.sleep(1.0)  # the worker connects and goes idle
        for _ in range(args.latency + 10):
            await pusher.push(time.monotonic())
            await asyncio.sleep(args.gap)
        serving.send("stop")
        result = json.loads(serving.last("result "))
        samples = result["latencies"][10:]  # the first ten warm the caches up
    figures.update(_percentiles(samples))
    async with await system.pusher() as pusher:
        started = time.perf_counter()
        for _ in range(args.single):
            await pusher.push()
        figures["single push jobs/s"] = args.single / (time.perf_counter() - started)
    return system.name, figures


def _percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"latency p50 ms": cuts[49] * 1000, "latency p99 ms": cuts[98] * 1000}


async def create_database(server_dsn: str, name: str) -> str:
    async with await psycopg.AsyncConnection.connect(server_dsn, autocommit=True) as conn:
        ident = sql.Identifier(name)
        await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    params = psycopg.conninfo.conninfo_to_dict(server_dsn)
    params["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **params)


@contextlib.contextmanager
def server(dsn: str | None) -> Iterator[str]:
    """The DSN given, or a throwaway cluster's for the length of the run."""
    if dsn:
        yield dsn
        return
    from tests.pg_cluster import create_cluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql, or --dsn")
    root = Path(tempfile.mkdtemp(prefix="asyncz-queue-bench-"))
    cluster = None
    try:
        cluster = create_cluster(bin_dir, root)
        yield cluster.dsn
    finally:
        if cluster is not None:
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def report(results: dict[str, dict[str, float]]) -> str:
    """A table of every figure, then asyncz_queue's ratio to the best peer."""
    metrics = list(next(iter(results.values())))
    width = max(len(name) for name in results) + 2
    first = max(len(metric) for metric in metrics) + 1
    lines = [" " * first + "".join(f"{name:>{width}}" for name in results)]
    for metric in metrics:
        row = "".join(f"{results[name][metric]:>{width}.1f}" for name in results)
        lines.append(f"{metric:<{first}}{row}")
    ours = results.get("asyncz_queue")
    peers = {name: figures for name, figures in results.items() if name != "asyncz_queue"}
    if ours and peers:
        lines.append("")
        for metric in metrics:
            lower_is_better = metric.startswith("latency")
            pick = min if lower_is_better else max
            best_name = pick(peers, key=lambda name: peers[name][metric])
            best = peers[best_name][metric]
            ratio = best / ours[metric] if lower_is_better else ours[metric] / best
            better = "lower" if lower_is_better else "higher"
            lines.append(
                f"{metric:<{first}}{ratio:6.2f}x the best peer ({best_name}; {better} wins)"
            )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> None:
    rounds: dict[str, list[dict[str, float]]] = {}
    with server(args.dsn) as server_dsn:
        # Round after round, each system in turn: a slow spell of the machine lands on all
        # of them instead of on one, and the medians below smooth it out.
        for number in range(1, args.rounds + 1):
            for key in args.systems:
                args.system_key = key
                print(f"round {number}: measuring {key} ...", file=sys.stderr, flush=True)
                name, figures = await measure(key, server_dsn, args)
                rounds.setdefault(name, []).append(figures)
    results = {
        name: {metric: statistics.median(r[metric] for r in runs) for metric in runs[0]}
        for name, runs in rounds.items()
    }
    if args.rounds > 1:
        print(f"median of {args.rounds} rounds")
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"median": results, "rounds": rounds}, indent=2))


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="an existing server (default: a throwaway cluster)")
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in one bulk push")
    parser.add_argument(
        "--bulk-pushes",
        type=int,
        default=3,
        help="bulk pushes per round through each path (the median counts)",
    )
    parser.add_argument("--single", type=int, default=1000, help="jobs pushed one at a time")
    parser.add_argument("--latency", type=int, default=300, help="latency samples")
    parser.add_argument("--gap", type=float, default=0.01, help="seconds between samples")
    parser.add_argument(
        "--systems",
        type=lambda text: text.split(","),
        default=["asyncz_queue", "pgqueuer", "procrastinate"],
        help=f"comma-separated, of: {', '.join(SYSTEMS)}",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every system this many times, in turn"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        name, dsn, mode, count = sys.argv[2:6]
        asyncio.run(worker_main(name, dsn, mode, int(count)))
    else:
        asyncio.run(main(parse(sys.argv[1:])))
