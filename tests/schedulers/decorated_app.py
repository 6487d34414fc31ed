"""A module that declares its task with the decorator, as an application would."""

from __future__ import annotations

from asyncz_queue import AsyncIOScheduler

scheduler = AsyncIOScheduler()
runs: list[str] = []


@scheduler.task("interval", seconds=0.05, id="nightly")
def nightly() -> str:
    runs.append("ran")
    return "ran"
