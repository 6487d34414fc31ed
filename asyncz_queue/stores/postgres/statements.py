"""Every statement of the Postgres store, rendered once for one schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from psycopg import sql

from asyncz_queue.stores.postgres import sql as job_sql
from asyncz_queue.stores.postgres import sql_tasks as task_sql


@dataclass(frozen=True, slots=True)
class Statements:
    """Every statement above, rendered for one schema (as bytes: psycopg sends them as is)."""

    ADD_JOBS: bytes
    ADD_NEW_JOB: bytes
    FIND_HOLDERS: bytes
    RELEASE_TASKS: bytes
    ACQUIRE_TASKS: bytes
    INSERT_TASK: bytes
    UPSERT_TASK: bytes
    UPDATE_TASK: bytes
    GET_TASK: bytes
    GET_TASKS: bytes
    DELETE_TASK: bytes
    DELETE_ALL_TASKS: bytes
    NEXT_RUN_TIME: bytes
    GET_JOB: bytes
    GET_JOBS: bytes
    GET_JOBS_BY_STATE: bytes
    GET_JOBS_BY_TASK: bytes
    GET_JOBS_BY_STATE_AND_TASK: bytes
    NEXT_JOB_TIME: bytes
    ACQUIRE_JOBS: bytes
    CLAIMED_JOBS: bytes
    COMPLETE_JOBS: bytes
    EXTEND_LEASES: bytes
    REDELIVER_HANDOFFS: bytes
    WITHDRAW_OFFERS: bytes
    EXPIRED_JOBS: bytes
    CANCEL_JOB: bytes
    PRUNE_JOBS: bytes
    PAUSE_TASKS: bytes
    HEARTBEAT: bytes
    LISTENED: bytes
    GET_PROCESSES: bytes
    NOTIFY_MANY: bytes

    @classmethod
    def for_schema(cls, schema: str) -> Statements:
        """Render every statement with `schema` quoted as an identifier."""
        quoted = placeholder_safe(schema)
        source = {**vars(job_sql), **vars(task_sql)}
        rendered = {
            f.name: _compact(source[f.name]).replace("{schema}", quoted).encode()
            for f in fields(cls)
        }
        return cls(**rendered)


def placeholder_safe(schema: str) -> str:
    """`schema` quoted as an identifier, with `%` doubled: psycopg scans statements that
    have parameters for `%s`-style placeholders, and a schema name may hold a `%`."""
    return sql.Identifier(schema).as_string(None).replace("%", "%%")


def _compact(statement: str) -> str:
    # Comments are for readers of this file; psycopg caches the parsing of short statements
    # only (4 KiB), and no string literal here contains "--".
    return " ".join(re.sub(r"--[^\n]*", " ", statement).split())
