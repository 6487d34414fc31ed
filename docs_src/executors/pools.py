"""The pool executors: threads for blocking code, processes for CPU-bound code."""

import asyncio
import os
import time

from asyncz_queue import AsyncIOScheduler, Job
from asyncz_queue.executors import stop_requested


def read_sensor(name: str) -> str:  # blocking I/O: a thread
    time.sleep(0.05)
    return f"{name}: 21.5"


def poll_forever(name: str) -> str:  # a long thread job checks its stop flag between steps
    while not stop_requested():
        time.sleep(0.01)
    return f"{name} stopped"


def count_primes(limit: int) -> tuple[int, int]:  # CPU-bound: a child process
    primes = sum(all(n % d for d in range(2, int(n**0.5) + 1)) for n in range(2, limit))
    return primes, os.getpid()


async def main() -> None:
    scheduler = AsyncIOScheduler(
        executors={
            "default": {"type": "asyncio"},
            "io": {"type": "threadpool", "max_workers": 8},
            "cpu": {
                "type": "processpool",
                "max_workers": 2,
                "max_jobs_per_worker": 100,  # replace a child after 100 jobs
                "timeout": 30,  # kill a child whose job runs longer
                "memory_limit": 1024**3,  # bytes of address space per child
            },
        }
    )
    async with scheduler:
        reading = await scheduler.push(Job.from_func(read_sensor, args=["hall"], executor="io"))
        print(await reading.result(timeout=5))

        primes = await scheduler.push(Job.from_func(count_primes, args=[20_000], executor="cpu"))
        count, pid = await primes.result(timeout=30)
        print(count, "primes below 20000, computed in another process:", pid != os.getpid())

        poller = Job.from_func(poll_forever, args=["poller"], executor="io", timeout=0.2)
        job = await (await scheduler.push(poller)).wait(timeout=5)
        print(job.state, job.error_type)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# hall: 21.5
# 2262 primes below 20000, computed in another process: True
# failed TimeoutError
