"""What a bulk push costs the server, index by index, beside pgqueuer's bulk push.

    .venv/bin/python benchmarks/bench_copy_floor.py [--dsn DSN] [--jobs 10000] [--rounds 5]

`bench_postgres.py` times `push_many` end to end. This script splits our half of it: the
time to build the jobs (`Job.from_func`, in the caller, before the push starts) and the
time for the store to COPY jobs built beforehand, on a fresh schema each time, with every
index of the jobs table and with the indexes a pending job's insert maintains taken away
one at a time. pgqueuer's bulk enqueue of as many jobs runs on the same server in the same
rounds, and the last lines give what 2x its rate leaves per job: the build and the COPY
have to fit in it together.

The variants without an index are not a configuration we could ship: `jobs_claim` is the
claim order, `jobs_pkey` the id's uniqueness, and `jobs_seq` serves `get_jobs` (newest
first) without sorting the table. They show where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from bench_postgres import create_database, server  # noqa: E402
from bench_systems import PgQueuer, noop  # noqa: E402

from asyncz_queue import AsyncIOScheduler, Job  # noqa: E402

#: Variant name -> the statements that take its indexes away (`{jobs}`: the jobs table).
VARIANTS: dict[str, list[str]] = {
    "every index": [],
    "without jobs_seq": ["DROP INDEX {schema}.jobs_seq"],
    "without jobs_claim": ["DROP INDEX {schema}.jobs_claim"],
    "without jobs_pkey": ["ALTER TABLE {schema}.jobs DROP CONSTRAINT jobs_pkey"],
    "without any index": [
        "DROP INDEX {schema}.jobs_seq",
        "DROP INDEX {schema}.jobs_claim",
        "ALTER TABLE {schema}.jobs DROP CONSTRAINT jobs_pkey",
    ],
}


async def copy_rate(dsn: str, schema: str, drops: list[str], n: int) -> float:
    """Jobs per second of the store's COPY of `n` prebuilt jobs into a fresh schema."""
    scheduler = AsyncIOScheduler(
        stores={"default": {"type": "postgres", "dsn": dsn, "schema": schema}},
        role="scheduler",
    )
    await scheduler.migrate()
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        for statement in drops:
            await conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))
    await scheduler.start()
    try:
        store = scheduler.store("default")
        await store.add_jobs([Job.from_func(noop) for _ in range(100)])  # prepared, warm
        jobs = [Job.from_func(noop) for _ in range(n)]
        gc.collect()
        began = time.perf_counter()
        await store.add_jobs(jobs)
        return n / (time.perf_counter() - began)
    finally:
        await scheduler.shutdown()


def build_seconds(n: int) -> float:
    """Seconds per job to build `n` jobs with `Job.from_func`, as a caller of `push_many`."""
    gc.collect()
    began = time.perf_counter()
    jobs = [Job.from_func(noop) for _ in range(n)]
    took = time.perf_counter() - began
    del jobs
    return took / n


async def pgqueuer_rate(dsn: str, n: int) -> float:
    """Jobs per second of pgqueuer's bulk enqueue of `n` jobs into a fresh database."""
    system = PgQueuer(dsn)
    await system.setup()
    async with await system.pusher() as pusher:
        await pusher.push_many(100)
        began = time.perf_counter()
        await pusher.push_many(n)
        return n / (time.perf_counter() - began)


async def main(args: argparse.Namespace) -> None:
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    builds: list[float] = []
    peer: list[float] = []
    with server(args.dsn) as server_dsn:
        dsn = await create_database(server_dsn, "bench_copy_floor")
        for number in range(args.rounds):
            print(f"round {number + 1} ...", file=sys.stderr, flush=True)
            for index, (name, drops) in enumerate(VARIANTS.items()):
                schema = f"floor_{number}_{index}"
                rates[name].append(await copy_rate(dsn, schema, drops, args.jobs))
            builds.append(build_seconds(args.jobs))
            peer_dsn = await create_database(server_dsn, "bench_copy_floor_pgqueuer")
            peer.append(await pgqueuer_rate(peer_dsn, args.jobs))
    print(f"{args.jobs} jobs, median of {args.rounds} rounds")
    print(f"{'COPY of jobs built beforehand':<34} {'jobs/s':>9} {'µs/job':>8}")
    for name, measured in rates.items():
        rate = statistics.median(measured)
        print(f"  {name:<32} {rate:>9,.0f} {1e6 / rate:>8.1f}")
    build = statistics.median(builds) * 1e6
    peer_rate = statistics.median(peer)
    print(f"{'Job.from_func, per job':<34} {'':>9} {build:>8.1f}")
    print(f"{'pgqueuer bulk enqueue':<34} {peer_rate:>9,.0f} {1e6 / peer_rate:>8.1f}")
    budget = 1e6 / (2 * peer_rate)
    every = 1e6 / statistics.median(rates["every index"])
    print(f"2x pgqueuer leaves {budget:.1f} µs per job; build + COPY take {build + every:.1f}")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", help="an existing server (default: a throwaway cluster)")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
