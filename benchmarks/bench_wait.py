"""`ref.wait()` latency on the PostgreSQL store: push to finished job in hand.

A worker process (role `worker`) sits idle on a throwaway cluster; this process (role
`scheduler`, so it runs nothing itself) pushes one no-op job at a time and awaits
`ref.wait()`, woken by the worker's completion event over LISTEN/NOTIFY.

    .venv/bin/python -m benchmarks.bench_wait [--samples 300] [--dsn DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from benchmarks.bench_postgres import Child, server

SCHEMA = "bench_wait"
WORKER = f"""
import asyncio, sys
from asyncz_queue import AsyncIOScheduler
from asyncz_queue.stores.postgres import PostgresStore
async def main():
    store = PostgresStore(sys.argv[1], schema={SCHEMA!r})
    scheduler = AsyncIOScheduler(stores={{"default": store}}, role="worker")
    await scheduler.start()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await scheduler.shutdown()
asyncio.run(main())
"""


async def noop() -> None:
    """The job: nothing, so the figure is the queue's own latency."""


async def measure(dsn: str, samples: int) -> list[float]:
    from asyncz_queue import AsyncIOScheduler
    from asyncz_queue.stores.postgres import PostgresStore

    scheduler = AsyncIOScheduler(
        stores={"default": PostgresStore(dsn, schema=SCHEMA)}, role="scheduler"
    )
    await scheduler.migrate()
    worker = Child("-c", WORKER, dsn)
    try:
        worker.expect("ready")
        async with scheduler:
            latencies = []
            for i in range(samples + 20):
                began = time.perf_counter()
                ref = await scheduler.push(f"{__name__}:noop")
                await ref.wait(timeout=10)
                if i >= 20:  # warm-up: connections, prepared statements
                    latencies.append((time.perf_counter() - began) * 1000)
                await asyncio.sleep(0.005)
        return latencies
    finally:
        worker.send("")
        worker.proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--dsn", default=None, help="an existing server (default: throwaway)")
    args = parser.parse_args()
    with server(args.dsn) as dsn:
        latencies = asyncio.run(measure(dsn, args.samples))
    cuts = statistics.quantiles(latencies, n=100)
    print(f"ref.wait() latency, push to finished job, {len(latencies)} samples, idle worker:")
    print(f"  p50 {cuts[49]:.2f} ms   p99 {cuts[98]:.2f} ms   max {max(latencies):.2f} ms")


if __name__ == "__main__":
    main()
