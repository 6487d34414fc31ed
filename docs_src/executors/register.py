"""Registering an executor class under an alias of your own."""

import asyncio

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import UnknownAliasError
from asyncz_queue.executors import register_executor

# A class or a lazy "package.module:Class" reference; here a built-in under another name.
register_executor("inline", "asyncz_queue.executors.debug:DebugExecutor")


def hello() -> str:
    return "hello"


async def main() -> None:
    async with AsyncIOScheduler(executors={"default": {"type": "inline"}}) as scheduler:
        print(type(scheduler.executors["default"]).__name__)
        print(await (await scheduler.push(hello)).result(timeout=5))
    try:
        AsyncIOScheduler(executors={"default": {"type": "gpu"}})
    except UnknownAliasError as exc:
        print(str(exc).split(";")[0])


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# DebugExecutor
# hello
# unknown executor alias 'gpu'
