"""A custom executor: subclass `BaseExecutor` and implement `run_job`."""

import asyncio
import importlib
import inspect
import time
from typing import Any

from asyncz_queue import AsyncIOScheduler, Job
from asyncz_queue.executors import BaseExecutor, register_executor


class TimingExecutor(BaseExecutor):
    """Runs each job inline on the event loop and reports how long its attempts took."""

    def __init__(self, *, label: str = "job", **options: Any) -> None:
        super().__init__(**options)  # max_workers, timeout
        self.label = label

    async def run_job(self, job: Job) -> Any:
        # job.fn is a "module:qualname" reference: import the module, walk to the function.
        module_name, _, qualname = job.fn.partition(":")
        func: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            func = getattr(func, part)
        started = time.perf_counter()
        result = func(*job.args, **job.kwargs)
        if inspect.isawaitable(result):  # a coroutine function is awaited
            result = await result
        elapsed = time.perf_counter() - started
        print(f"{self.label} {qualname} took {'under' if elapsed < 1 else 'over'} a second")
        return result


def add(a: int, b: int) -> int:
    return a + b


async def greet(name: str) -> str:
    await asyncio.sleep(0)
    return f"hello {name}"


# An alias, so that configs can say {"type": "timing"}; a package would rather declare it
# in the "asyncz_queue.executors" entry-point group.
register_executor("timing", TimingExecutor)


async def main() -> None:
    scheduler = AsyncIOScheduler(
        executors={"default": {"type": "timing", "label": "[timing]", "max_workers": 4}}
    )
    async with scheduler:
        print(await (await scheduler.push(add, 2, 3)).result(timeout=5))
        print(await (await scheduler.push(greet, "executor")).result(timeout=5))


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# [timing] add took under a second
# 5
# [timing] greet took under a second
# hello executor
