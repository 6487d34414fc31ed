"""The Postgres store's task, process and channel statements (see `sql.py`)."""

from __future__ import annotations

from asyncz_queue.stores.postgres.sql import (
    ENSURE_COUNTERS,
    JOB_INPUT,
    WAKE_IF_INSERTED,
    batch,
    constants,
)

#: Columns of `tasks` in the order `codec.decode_task` reads them.
TASK_COLUMNS = "id, next_run_time, spec, arguments, arguments_bytes"
_T = "t." + TASK_COLUMNS.replace(", ", ", t.")

RELEASE_TASKS = (
    "WITH "
    + constants(JOB_INPUT)
    + """,
    -- Fenced: only the tasks whose lease this scheduler still holds are released. A scheduler
    -- that stalled past its lease (another one fired the task meanwhile) changes nothing, so
    -- it can neither fire a run time twice nor move next_run_time backwards. FOR UPDATE
    -- keeps the lease from changing hands until this statement commits.
    owned AS (
        SELECT id FROM {schema}.tasks
        WHERE id = ANY(%(task_ids)b::text[]) AND lease_owner = %(owner)s
        FOR UPDATE
    ),
    inserted AS (
        INSERT INTO {schema}.jobs ("""
    + ", ".join(name for name, _ in JOB_INPUT)
    + ") SELECT * FROM ("
    + batch(JOB_INPUT, "u")
    + ") AS b("
    + ", ".join(name for name, _ in JOB_INPUT)
    + """) WHERE b.task_id IN (SELECT id FROM owned)
        ON CONFLICT DO NOTHING RETURNING id, task_id, max_instances
    ), counters AS ("""
    + ENSURE_COUNTERS
    + "), "
    + """
    fired AS (
        SELECT f.* FROM unnest(%(task_ids)b::text[], %(next_run_times)b::timestamptz[])
            AS f(id, next_run_time)
        WHERE f.id IN (SELECT id FROM owned)
    ),
    -- Advance the fired tasks and drop the lease. Runs in the same statement (one
    -- transaction) as the job inserts above: a crash leaves either both or neither, and a
    -- re-fire of the same run time hits the jobs_fire unique index instead of a duplicate.
    advanced AS (
        UPDATE {schema}.tasks t SET
            next_run_time = f.next_run_time, lease_owner = NULL, lease_until = NULL
        FROM fired f WHERE t.id = f.id AND f.next_run_time IS NOT NULL
    ),
    finished AS (
        DELETE FROM {schema}.tasks t USING fired f WHERE t.id = f.id AND f.next_run_time IS NULL
    )
    """
    + WAKE_IF_INSERTED
)
"""Record fires: insert their jobs, advance or delete the tasks, drop the leases."""

ACQUIRE_TASKS = f"""
    UPDATE {{schema}}.tasks t SET lease_owner = %(owner)s, lease_until = %(lease_until)s
    FROM (
        -- Due tasks without a live lease of another scheduler. SKIP LOCKED leaves a task
        -- another scheduler is leasing at this instant to it; once committed, its lease
        -- columns keep everyone else away until release_tasks or expiry, so one scheduler
        -- fires a given run time. Its own lease a scheduler takes again: a fire whose
        -- release never came (cut off, or this lease's reply lost) is fired again at once
        -- (its jobs are unique per run time), not after the lease runs out.
        SELECT id FROM {{schema}}.tasks
        WHERE next_run_time <= %(now)s
          AND (lease_owner IS NULL OR lease_owner = %(owner)s OR lease_until <= %(now)s)
        ORDER BY next_run_time, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) due
    WHERE t.id = due.id
    RETURNING {_T}
"""
"""Lease up to `limit` due tasks to `owner`."""


def _store_task(on_conflict: str) -> str:
    """Insert a task (and its running-instance counter); `on_conflict` says what an existing
    id gets. Returns the id stored and wakes the schedulers."""
    return f"""
    WITH stored AS (
        INSERT INTO {{schema}}.tasks (id, next_run_time, spec, arguments, arguments_bytes)
        VALUES (%(id)s, %(next_run_time)s, %(spec)s, %(arguments)s, %(arguments_bytes)s)
        ON CONFLICT (id) {on_conflict}
        RETURNING id
    ),
    counters AS (
        INSERT INTO {{schema}}.task_instances (task_id) SELECT id FROM stored
        ON CONFLICT DO NOTHING
    )
    SELECT id, pg_notify(%(channel)s, %(wake)s)::text FROM stored
"""


INSERT_TASK = _store_task("DO NOTHING")
"""Add a task unless the id exists (no row returned then). Locks the new row only."""

UPSERT_TASK = _store_task(
    "DO UPDATE SET next_run_time = EXCLUDED.next_run_time, spec = EXCLUDED.spec, "
    "arguments = EXCLUDED.arguments, arguments_bytes = EXCLUDED.arguments_bytes, "
    "lease_owner = NULL, lease_until = NULL"
)
"""Add or replace a task. A replaced task's lease is dropped: a scheduler firing it now is
fenced off at its release, so the new task (a pause, another trigger) is not overwritten
with a next run time computed from the old one."""

UPDATE_TASK = """
    WITH stored AS (
        UPDATE {schema}.tasks SET
            next_run_time = %(next_run_time)s, spec = %(spec)s,
            arguments = %(arguments)s, arguments_bytes = %(arguments_bytes)s,
            lease_owner = NULL, lease_until = NULL
        WHERE id = %(id)s
        RETURNING id
    )
    SELECT id, pg_notify(%(channel)s, %(wake)s)::text FROM stored
"""
"""Replace an existing task, dropping its lease as UPSERT_TASK does (no row returned when
there is none)."""

GET_TASK = f"SELECT {TASK_COLUMNS} FROM {{schema}}.tasks WHERE id = %(id)s"
GET_TASKS = f"SELECT {TASK_COLUMNS} FROM {{schema}}.tasks ORDER BY next_run_time NULLS LAST, id"
DELETE_TASK = "DELETE FROM {schema}.tasks WHERE id = %(id)s RETURNING id"
DELETE_ALL_TASKS = "DELETE FROM {schema}.tasks"
NEXT_RUN_TIME = """
    SELECT min(CASE WHEN lease_owner = %(owner)s THEN next_run_time
                    ELSE greatest(next_run_time, lease_until) END)
    FROM {schema}.tasks WHERE next_run_time IS NOT NULL
"""
"""The earliest next_run_time; a task leased to another scheduler counts from its lease's
end (a live lease is released with a new run time; a dead one frees the task only then), so
schedulers sleep instead of retrying a task they cannot acquire. greatest() skips NULLs."""

HEARTBEAT = """
    WITH forgotten AS (
        DELETE FROM {schema}.processes WHERE last_seen < %(forget_before)s
    )
    INSERT INTO {schema}.processes (identity, info, last_seen)
    VALUES (%(identity)s, %(info)s, %(now)s)
    ON CONFLICT (identity) DO UPDATE SET info = EXCLUDED.info, last_seen = EXCLUDED.last_seen
"""
"""Record a scheduler's heartbeat; forget schedulers silent for long (one row each)."""

LISTENED = """
    SELECT EXISTS (
        SELECT FROM {schema}.processes
        WHERE identity <> %(identity)s
          -- Live: beat within three of its intervals (a row from before "every": a minute).
          AND last_seen > %(now)s::timestamptz
              - 3 * coalesce((info::json->>'every')::float8, 20) * interval '1 second'
          -- A row from before "listens" counts as listening to everything.
          AND coalesce((info::json->>'listens')::bigint, -1) & %(codes)s <> 0
    )
"""
"""Whether a live process other than `identity` listens for any of `codes` (its heartbeat
says so)."""

GET_PROCESSES = (
    "SELECT identity, info, last_seen FROM {schema}.processes ORDER BY last_seen DESC, identity"
)

NOTIFY_MANY = "SELECT pg_notify(%(channel)s, p) FROM unnest(%(payloads)b::text[]) AS p"
"""Send several notifications (events, cancel requests) in one round trip."""

PAUSE_TASKS = """
    UPDATE {schema}.tasks SET next_run_time = NULL, lease_owner = NULL, lease_until = NULL
    WHERE id = ANY(%(ids)s)
"""
"""Pause tasks that cannot be loaded, so they stop coming back in every fire."""
