"""Executors: where jobs run. Found by alias through one registry."""

from __future__ import annotations

from typing import Any

from asyncz_queue._plugins import PluginRegistry
from asyncz_queue.executors._threads import stop_requested
from asyncz_queue.executors.asyncio import AsyncIOExecutor
from asyncz_queue.executors.base import BaseExecutor, OnDone, RemoteJobError, resolve_callable
from asyncz_queue.executors.debug import DebugExecutor

EXECUTORS: PluginRegistry[BaseExecutor] = PluginRegistry(
    "executor",
    BaseExecutor,
    "asyncz_queue.executors",
    {
        "asyncio": "asyncz_queue.executors.asyncio:AsyncIOExecutor",
        "debug": "asyncz_queue.executors.debug:DebugExecutor",
        "threadpool": "asyncz_queue.executors.pool:ThreadPoolExecutor",
        "pool": "asyncz_queue.executors.pool:ThreadPoolExecutor",
        "processpool": "asyncz_queue.executors.process:ProcessPoolExecutor",
    },
)


def register_executor(alias: str, target: str | type[BaseExecutor]) -> None:
    """Make `{"type": alias}` build `target` (a `BaseExecutor` subclass or `"module:Class"`)."""
    EXECUTORS.register(alias, target)


def __getattr__(name: str) -> Any:
    # The pool executors load their machinery (threads, multiprocessing) on first use.
    if name == "ThreadPoolExecutor":
        from asyncz_queue.executors.pool import ThreadPoolExecutor

        return ThreadPoolExecutor
    if name in ("ProcessPoolExecutor", "WorkerDiedError"):
        from asyncz_queue.executors import process

        return getattr(process, name)
    raise AttributeError(name)


__all__ = [
    "EXECUTORS",
    "AsyncIOExecutor",
    "BaseExecutor",
    "DebugExecutor",
    "OnDone",
    "ProcessPoolExecutor",
    "RemoteJobError",
    "ThreadPoolExecutor",
    "WorkerDiedError",
    "register_executor",
    "resolve_callable",
    "stop_requested",
]
