"""Apps that the ASGI tests serve with uvicorn in a subprocess."""

from __future__ import annotations

from starlette.applications import Starlette

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.stores import MemoryStore


class UnreachableStore(MemoryStore):
    """A store whose database cannot be reached: the scheduler cannot start."""

    async def start(self, identity: str) -> None:
        raise ConnectionError("database at db.example:5432 is unreachable")


#: A Starlette app whose scheduler cannot start.
unreachable = AsyncIOScheduler(stores={"default": UnreachableStore()})
app = unreachable.asgi(Starlette())
