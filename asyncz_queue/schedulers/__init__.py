"""Schedulers: the only layer that ties stores, executors, events and triggers together."""

from asyncz_queue.schedulers.asyncio import AsyncIOScheduler

__all__ = ["AsyncIOScheduler"]
