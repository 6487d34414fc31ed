"""Serializers: JSON by default (on every store), pickle only when you opt in."""

import asyncio
from datetime import UTC, datetime

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import SerializationError


def days_until(when: datetime) -> int:
    return (when - datetime.now(UTC)).days


async def main() -> None:
    moment = datetime(2999, 1, 1, tzinfo=UTC)

    async with AsyncIOScheduler() as scheduler:  # MemoryStore(serializer="json")
        try:
            await scheduler.push(days_until, moment)
        except SerializationError as exc:
            print("refused:", str(exc).split(":")[-1].strip())
        # JSON values go through: pass the ISO string and parse it in the job instead.

    pickled = AsyncIOScheduler(stores={"default": {"type": "memory", "serializer": "pickle"}})
    async with pickled:
        ref = await pickled.push(days_until, moment)
        print("pickle:", await ref.result(timeout=5) > 300_000)


if __name__ == "__main__":
    asyncio.run(main())

# Output:
# refused: object of type datetime is not JSON serializable (use JSON types, or serializer='pickle')
# pickle: True
