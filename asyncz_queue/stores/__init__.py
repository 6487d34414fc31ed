"""Stores: where tasks and jobs live. Found by alias through one registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from asyncz_queue._plugins import PluginRegistry
from asyncz_queue.stores.base import Acquired, BaseStore, FireResult, Notification
from asyncz_queue.stores.memory import MemoryStore

if TYPE_CHECKING:
    from asyncz_queue.stores.postgres import PostgresStore

STORES: PluginRegistry[BaseStore] = PluginRegistry(
    "store",
    BaseStore,
    "asyncz_queue.stores",
    {
        "memory": "asyncz_queue.stores.memory:MemoryStore",
        "postgres": "asyncz_queue.stores.postgres:PostgresStore",
        "postgresql": "asyncz_queue.stores.postgres:PostgresStore",
    },
)


def register_store(alias: str, target: str | type[BaseStore]) -> None:
    """Make `{"type": alias}` build `target` (a `BaseStore` subclass or `"module:Class"`)."""
    STORES.register(alias, target)


def __getattr__(name: str) -> Any:
    # PostgresStore is imported on first use so that the memory store never loads psycopg.
    if name == "PostgresStore":
        from asyncz_queue.stores.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(name)


__all__ = [
    "STORES",
    "Acquired",
    "BaseStore",
    "FireResult",
    "MemoryStore",
    "Notification",
    "PostgresStore",
    "register_store",
]
