"""Configuring executors: names, aliases, options, and choosing one per task or job."""

import asyncio
import threading

from asyncz_queue import AsyncIOScheduler, Job
from asyncz_queue.executors import DebugExecutor


async def fetch(url: str) -> str:  # a coroutine: awaited on the event loop
    await asyncio.sleep(0.01)
    return f"fetched {url}"


def checksum(data: str) -> str:  # a plain function: the asyncio executor runs it in a thread
    where = "loop thread" if threading.current_thread() is threading.main_thread() else "thread"
    return f"checksum of {data} computed in a {where}"


async def main() -> None:
    scheduler = AsyncIOScheduler(
        executors={
            # name -> {"type": alias, **options}
            "default": {"type": "asyncio", "max_workers": 100},
            # or an instance
            "inline": DebugExecutor(max_workers=1),
            # or {"class": "package.module:Class", **options}
            "slow": {"class": "asyncz_queue.executors.asyncio:AsyncIOExecutor", "timeout": 30},
        }
    )
    async with scheduler:
        print(await (await scheduler.push(fetch, "https://example.com")).result(timeout=5))
        print(await (await scheduler.push(checksum, "abc")).result(timeout=5))

        # The executor of a job, and of a task's jobs, is chosen by name.
        inline = Job.from_func(checksum, args=["xyz"], executor="inline")
        print(await (await scheduler.push(inline)).result(timeout=5))
        await scheduler.add_task(fetch, "interval", hours=1, args=["/health"], executor="slow")

        # Executors can be added and removed while the scheduler runs.
        await scheduler.add_executor("reports", {"type": "asyncio", "max_workers": 2})
        await scheduler.remove_executor("reports")
        print(sorted(scheduler.executors))


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# fetched https://example.com
# checksum of abc computed in a thread
# checksum of xyz computed in a loop thread
# ['default', 'inline', 'slow']
