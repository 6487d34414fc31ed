"""The PostgreSQL store: durable, shared by many processes, woken by LISTEN/NOTIFY."""

from __future__ import annotations

from asyncz_queue.stores.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
