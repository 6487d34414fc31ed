"""The Postgres store's job statements (`statements.py` renders them once per schema).

Every statement is a single round trip (autocommit) unless its docstring says otherwise.
Each comment says what the statement locks and why no job can run twice because of it.
Parameters are always bound (`%(name)s`); `{schema}` becomes the quoted schema name.
"""

from __future__ import annotations

#: Columns of `jobs` in the order `codec.decode_job` reads them (`seq` last).
JOB_COLUMNS = (
    "id, task_id, fn, arguments, arguments_bytes, executor, priority, state, attempts, "
    "max_attempts, max_instances, retry_on, retry_backoff, retry_backoff_max, timeout, "
    "unique_key, scheduled_at, created_at, started_at, completed_at, worker_id, lease_until, "
    "result, result_bytes, error_type, error, errors, seq"
)
_J = "j." + JOB_COLUMNS.replace(", ", ", j.")

#: What add_jobs / release_tasks insert into `jobs`, with types (`codec.job_columns` order).
JOB_INPUT = (
    ("id", "text"), ("task_id", "text"), ("fn", "text"), ("arguments", "text"),
    ("arguments_bytes", "bytea"), ("executor", "text"), ("priority", "int"), ("state", "text"),
    ("attempts", "int"), ("max_attempts", "int"), ("max_instances", "int"),
    ("retry_on", "text"), ("retry_backoff", "float8"), ("retry_backoff_max", "float8"),
    ("timeout", "float8"), ("unique_key", "text"), ("scheduled_at", "timestamptz"),
    ("created_at", "timestamptz"), ("started_at", "timestamptz"),
    ("completed_at", "timestamptz"), ("worker_id", "text"), ("lease_until", "timestamptz"),
    ("result", "text"), ("result_bytes", "bytea"), ("error_type", "text"), ("error", "text"),
    ("errors", "text"),
)  # fmt: skip

#: The columns a new job on its own fills, as `Job.from_func` makes it (no task, unique key
#: or life yet: see `_plain` in the store); the others stay NULL. What a bulk COPY and
#: `ADD_NEW_JOB` send: 16 columns of 27.
NEW_JOB_INPUT = tuple(
    (name, kind)
    for name, kind in JOB_INPUT
    if name
    not in {
        "task_id", "max_instances", "unique_key", "started_at", "completed_at", "worker_id",
        "lease_until", "result", "result_bytes", "error_type", "error",
    }
)  # fmt: skip

#: What complete_jobs writes (`codec.outcome_columns` order); `fence_worker` is the fence.
OUTCOME_INPUT = (
    ("id", "text"), ("fence_worker", "text"), ("attempts", "int"), ("state", "text"),
    ("scheduled_at", "timestamptz"), ("started_at", "timestamptz"),
    ("completed_at", "timestamptz"), ("worker_id", "text"), ("lease_until", "timestamptz"),
    ("result", "text"), ("result_bytes", "bytea"), ("error_type", "text"), ("error", "text"),
    ("errors", "text"),
)  # fmt: skip


def constants(columns: tuple[tuple[str, str], ...]) -> str:
    """The CTE `k`: one row with the columns every row of the batch shares, sent once as a
    JSON object (`%(k)s`, built by `codec.fold`) and read once."""
    names = ", ".join(f"{name} {kind}" for name, kind in columns)
    return f"k AS MATERIALIZED (SELECT * FROM json_to_record(%(k)s::json) AS k({names}))"


def batch(columns: tuple[tuple[str, str], ...], alias: str) -> str:
    """`SELECT ... FROM unnest(...)`: the rows of a batch, sent column by column.

    A column whose values differ between rows comes as an array (`%(name)b`: binary, so
    nothing to escape or parse); the others come in the CTE `k` (see `constants`): unnest
    pads their NULL arrays and `coalesce` takes the shared value. Fewer arrays to dump, and
    few enough parameters that psycopg caches the statement's parsing.
    """
    arrays = ", ".join(f"%({name})b::{kind}[]" for name, kind in columns)
    names = ", ".join(name for name, _ in columns)
    values = ", ".join(f"coalesce({alias}.{name}, k.{name})" for name, _ in columns)
    return f"SELECT {values} FROM unnest({arrays}) AS {alias}({names}) CROSS JOIN k"


INSERT_JOBS = (
    "INSERT INTO {schema}.jobs ("
    + ", ".join(name for name, _ in JOB_INPUT)
    + ") "
    + batch(JOB_INPUT, "u")
    + " ON CONFLICT DO NOTHING RETURNING id, task_id, max_instances"
)

# Make sure the running-instance counter of every inserted task job exists, so that
# acquire_jobs always has a row to lock. Sorted: concurrent inserts of new keys wait in order.
ENSURE_COUNTERS = """
    INSERT INTO {schema}.task_instances (task_id)
    SELECT DISTINCT task_id FROM inserted
    WHERE task_id IS NOT NULL AND max_instances IS NOT NULL
    ORDER BY task_id
    ON CONFLICT DO NOTHING
"""

# After the statement that makes jobs available commits, wake the workers of every process.
WAKE_IF_INSERTED = """
    SELECT array_agg(id), (SELECT pg_notify(%(channel)s, %(wake)s))::text
    FROM inserted HAVING count(*) > 0
"""

ADD_JOBS = (
    "WITH "
    + constants(JOB_INPUT)
    + ", inserted AS ("
    + INSERT_JOBS
    + "), counters AS ("
    + ENSURE_COUNTERS
    + ")"
    + """
    SELECT array_agg(id),
        CASE WHEN count(*) = %(expected)s AND cardinality(%(announce)b::text[]) > 0 THEN (
            SELECT count(pg_notify(%(channel)s, m)) FROM unnest(%(announce)b::text[]) AS m
        ) ELSE (SELECT count(pg_notify(%(channel)s, %(wake)s))) END
    FROM inserted HAVING count(*) > 0
"""
)
"""Insert jobs; a job whose id, unique_key (held by an unfinished job) or fire is already
taken is skipped. Locks only the inserted rows. Returns the ids inserted. When all
`expected` jobs were inserted, sends the event messages `announce` (their JOB_PUSHED) in the
same transaction: other processes hear of a job only once it exists, and that message wakes
their workers too. Otherwise it sends the plain wake-up `wake`."""

_NEW_JOB_NAMES = ", ".join(name for name, _ in NEW_JOB_INPUT)
_NEW_JOB_VALUES = ", ".join(f"%({name})b::{kind}" for name, kind in NEW_JOB_INPUT)
_NEW_JOB_TAKEN = ", ".join(
    "CASE WHEN o.worker_id IS NULL THEN v.state ELSE 'running' END"
    if name == "state"
    else f"v.{name}"
    for name, _ in NEW_JOB_INPUT
)

ADD_NEW_JOB = f"""
    -- The offer of an idle worker (see migration 0003), when the job may skip the queue:
    -- nothing due for its executor waits ahead of it in claim order (a better priority, or
    -- the same one and scheduled no later), so it is next in line anyway (looked up only
    -- for an offer found: most pushes find none). SKIP LOCKED: an offer another push is
    -- taking is passed over.
    WITH offer AS (
        SELECT o.worker_id, o.lease FROM {{schema}}.offers o
        WHERE %(handoff)s::text IS NOT NULL
          AND o.executor = %(executor)b::text AND o.free > 0 AND o.until > now()
          AND NOT EXISTS (
              SELECT FROM {{schema}}.jobs j
              WHERE j.executor = o.executor AND j.state IN ('pending', 'retrying')
                AND j.priority <= %(priority)b::int AND j.scheduled_at <= now()
                AND (j.priority < %(priority)b::int
                     OR j.scheduled_at <= %(scheduled_at)b::timestamptz)
          )
        ORDER BY o.free DESC
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ),
    -- Taken: the job goes in running and leased to that worker, but not started: its
    -- attempts and started_at stay as pushed until the worker confirms it started the job
    -- (EXTEND_LEASES) or writes its outcome (COMPLETE_JOBS). One that never started when
    -- the lease runs out goes back to waiting without counting an attempt (rescue_jobs).
    inserted AS (
        INSERT INTO {{schema}}.jobs ({_NEW_JOB_NAMES}, worker_id, lease_until)
        SELECT {_NEW_JOB_TAKEN}, o.worker_id, now() + o.lease
        FROM (VALUES ({_NEW_JOB_VALUES})) AS v({_NEW_JOB_NAMES})
        LEFT JOIN offer o ON true
        ON CONFLICT DO NOTHING
        RETURNING worker_id
    ),
    taken AS (
        UPDATE {{schema}}.offers o SET free = o.free - 1
        FROM inserted i
        WHERE o.executor = %(executor)b::text AND o.worker_id = i.worker_id
    )
    -- The hand-over goes first: the worker starts the job before it reads the rest.
    SELECT i.worker_id,
        CASE
            WHEN i.worker_id IS NOT NULL THEN pg_notify(
                %(channel)s,
                'h:' || length(i.worker_id) || ':' || i.worker_id || ':' || %(handoff)s::text)
            WHEN %(wake)s::text IS NOT NULL THEN pg_notify(%(channel)s, %(wake)s::text)
        END,
        -- Announced quietly ('q' first) when handed over: nobody else needs to look.
        (SELECT count(pg_notify(
            %(channel)s, CASE WHEN i.worker_id IS NULL THEN m ELSE 'q' || m END
         )) FROM unnest(%(payloads)b::text[]) AS m)
    FROM inserted i
"""
"""Insert one new job on its own (the usual push): its 16 values, no arrays to pack or
unpack and no counters to make (a round trip about 15 % shorter than ADD_JOBS', and a
fraction of its client work). Returns a row (the worker it was handed to, or NULL) when it
was inserted, none when its id is taken. Inserted, it sends in the same transaction its
JOB_PUSHED messages `payloads` (quiet ones, `q` first, that wake no worker, when it is
handed over) and either the hand-over `h:<length>:<worker>:<handoff>` to
the worker whose offer it took or, when `wake` is given, that wake-up. `handoff` NULL: the
job is not handed over (it does not fit in a message, or its arguments are not JSON)."""

FIND_HOLDERS = f"""
    SELECT {JOB_COLUMNS} FROM {{schema}}.jobs
    WHERE id = ANY(%(ids)s)
       OR (unique_key = ANY(%(keys)s) AND state IN ('pending', 'running', 'retrying'))
       OR (task_id, scheduled_at) IN (
            SELECT * FROM unnest(%(task_ids)b::text[], %(scheduled_ats)b::timestamptz[]))
"""
"""The stored jobs that kept some of add_jobs' jobs out: same id, unique_key or fire."""

GET_JOB = f"SELECT {JOB_COLUMNS} FROM {{schema}}.jobs WHERE id = %(id)s"
GET_JOBS = f"SELECT {JOB_COLUMNS} FROM {{schema}}.jobs ORDER BY seq DESC LIMIT %(limit)s"
GET_JOBS_BY_STATE = (
    f"SELECT {JOB_COLUMNS} FROM {{schema}}.jobs WHERE state = %(state)s "
    "ORDER BY seq DESC LIMIT %(limit)s"
)
GET_JOBS_BY_TASK = (
    f"SELECT {JOB_COLUMNS} FROM {{schema}}.jobs WHERE task_id = %(task_id)s "
    "ORDER BY seq DESC LIMIT %(limit)s"
)
GET_JOBS_BY_STATE_AND_TASK = (
    f"SELECT {JOB_COLUMNS} FROM {{schema}}.jobs WHERE state = %(state)s "
    "AND task_id = %(task_id)s ORDER BY seq DESC LIMIT %(limit)s"
)

NEXT_JOB_TIME = """
    WITH RECURSIVE priorities(alias, priority) AS (
        SELECT e.alias, (
            SELECT j.priority FROM {schema}.jobs j
            WHERE j.executor = e.alias AND j.state IN ('pending', 'retrying')
            ORDER BY j.priority LIMIT 1
        ) FROM unnest(%(executors)s::text[]) AS e(alias)
        UNION ALL
        SELECT p.alias, (
            SELECT j.priority FROM {schema}.jobs j
            WHERE j.executor = p.alias AND j.state IN ('pending', 'retrying')
              AND j.priority > p.priority
            ORDER BY j.priority LIMIT 1
        ) FROM priorities p WHERE p.priority IS NOT NULL
    )
    SELECT min((
        SELECT j.scheduled_at FROM {schema}.jobs j
        WHERE j.executor = p.alias AND j.state IN ('pending', 'retrying')
          AND j.priority = p.priority
        ORDER BY j.scheduled_at LIMIT 1
    )) FROM priorities p WHERE p.priority IS NOT NULL
"""
"""The earliest scheduled_at of a waiting job of these executors: a skip scan of the claim
index, one probe per distinct priority, however many jobs wait."""

ACQUIRE_JOBS = f"""
    WITH limits AS (
        SELECT * FROM unnest(%(executors)b::text[], %(limits)b::int[]) AS l(alias, n)
    ),
    -- The due waiting jobs of each executor, best first, a few more than its limit so that
    -- jobs skipped for max_instances do not shrink the batch. FOR UPDATE SKIP LOCKED: a job
    -- another worker is claiming is passed over, never waited for; a job another worker
    -- claimed and committed meanwhile is re-checked against the state filter and dropped.
    -- Either way a job is handed to one worker only.
    candidates AS MATERIALIZED (
        SELECT c.* FROM limits l CROSS JOIN LATERAL (
            SELECT j.id, j.task_id, j.max_instances, j.executor, j.priority,
                   j.scheduled_at, j.seq
            FROM {{schema}}.jobs j
            WHERE j.executor = l.alias
              AND j.state IN ('pending', 'retrying')
              AND j.scheduled_at <= %(now)s
            ORDER BY j.priority, j.scheduled_at, j.seq
            LIMIT l.n + 16
            FOR UPDATE SKIP LOCKED
        ) c
    ),
    -- Lock the running-instance counters of the candidates' tasks, in task order (so two
    -- workers never deadlock). A worker that waited here reads the counter as the other one
    -- committed it: max_instances holds across processes.
    slots AS MATERIALIZED (
        SELECT t.task_id, t.running FROM {{schema}}.task_instances t
        WHERE t.task_id IN (SELECT task_id FROM candidates WHERE max_instances IS NOT NULL)
        ORDER BY t.task_id
        FOR UPDATE
    ),
    -- allowed: the job fits under its task's max_instances after the running ones and the
    -- ones of the same task ahead of it in this batch, in any executor (whether they start
    -- now or not: never too many).
    ranked AS (
        SELECT c.*, coalesce(s.running, 0) AS running, (
            c.task_id IS NULL OR c.max_instances IS NULL
            OR coalesce(s.running, 0) + row_number() OVER (
                PARTITION BY c.task_id ORDER BY c.priority, c.scheduled_at, c.seq
            ) <= c.max_instances
        ) AS allowed
        FROM candidates c LEFT JOIN slots s ON s.task_id = c.task_id
    ),
    -- taken: how many allowed jobs of the executor come up to and including this one;
    -- ahead: how many of its task's jobs start before it in the same executor.
    counted AS (
        SELECT r.*, count(*) FILTER (WHERE r.allowed) OVER (
            PARTITION BY r.executor ORDER BY r.priority, r.scheduled_at, r.seq
        ) AS taken, count(*) FILTER (WHERE r.allowed) OVER (
            PARTITION BY r.executor, r.task_id ORDER BY r.priority, r.scheduled_at, r.seq
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS ahead
        FROM ranked r
    ),
    -- Start the first `n` allowed jobs. Skip a job that is not allowed, met before the
    -- n-th (as a worker walking the queue would), when its task is at its limit for sure:
    -- by the jobs running and those of the same executor starting ahead of it. One held
    -- back only by jobs of its task in another executor (which may not start now) waits.
    decided AS (
        SELECT c.id, c.task_id, c.max_instances, c.executor,
               (c.allowed AND c.taken <= l.n) AS take
        FROM counted c JOIN limits l ON l.alias = c.executor
        WHERE (c.allowed AND c.taken <= l.n)
           OR (NOT c.allowed AND c.taken < l.n AND c.running + c.ahead >= c.max_instances)
    ),
    -- Offer the slots this claim leaves free to pushers (`ADD_NEW_JOB`), until %(offer_for)s
    -- from now; none when it is NULL. Every claim rewrites the offers of its executors, so
    -- a worker that filled its slots offers none.
    offered AS (
        INSERT INTO {{schema}}.offers AS o (worker_id, executor, free, lease, until)
        SELECT %(worker_id)s, l.alias, l.n - count(d.id) FILTER (WHERE d.take),
               %(lease)s::interval, now() + %(offer_for)s::interval
        FROM limits l LEFT JOIN decided d ON d.executor = l.alias
        WHERE %(offer_for)s::interval IS NOT NULL
        GROUP BY l.alias, l.n
        ON CONFLICT (executor, worker_id) DO UPDATE
        SET free = excluded.free, lease = excluded.lease, until = excluded.until
    ),
    occupied AS (
        UPDATE {{schema}}.task_instances t SET running = t.running + d.n
        FROM (
            SELECT task_id, count(*) AS n FROM decided
            WHERE take AND task_id IS NOT NULL AND max_instances IS NOT NULL
            GROUP BY task_id
        ) d
        WHERE t.task_id = d.task_id
    )
    UPDATE {{schema}}.jobs j SET
        state = CASE WHEN d.take THEN 'running' ELSE 'skipped' END,
        attempts = CASE WHEN d.take THEN j.attempts + 1 ELSE j.attempts END,
        started_at = CASE WHEN d.take THEN %(now)s ELSE j.started_at END,
        completed_at = CASE WHEN d.take THEN j.completed_at ELSE %(now)s END,
        worker_id = CASE WHEN d.take THEN %(worker_id)s ELSE j.worker_id END,
        lease_until = CASE WHEN d.take THEN %(lease_until)s ELSE j.lease_until END
    FROM decided d
    WHERE j.id = d.id
    RETURNING {_J}
"""
"""Claim due jobs for a worker: per-executor limits, priority order, max_instances."""

CLAIMED_JOBS = f"""
    SELECT {JOB_COLUMNS} FROM {{schema}}.jobs
    WHERE state = 'running' AND lease_until = ANY(%(leases)s) AND worker_id = %(worker_id)s
      AND started_at = ANY(%(started)s)
"""
"""The jobs claims of a worker took (each claim known by its time and lease's end) that are
still running under it: those of a claim whose reply was lost, which it never started."""

COMPLETE_JOBS = (
    "WITH "
    + constants(OUTCOME_INPUT)
    + ", outcomes("
    + ", ".join(name for name, _ in OUTCOME_INPUT)
    + ") AS ("
    + batch(OUTCOME_INPUT, "o")
    + """),
    -- Fenced write: only while the row is still running under the same worker and attempt.
    -- A job that was rescued (lease ran out) or claimed again has another state, worker or
    -- attempt number, so a late outcome of the old attempt changes nothing. The row lock
    -- taken here makes a concurrent rescue wait and then see the new state. A job handed
    -- over and not yet confirmed (started_at NULL) is one attempt behind the worker's: it
    -- takes the worker's count, or its own when the worker gives it back unstarted. An
    -- attempt interrupted by a shutdown comes back pending one attempt behind the row's:
    -- it does not count.
    written AS (
        UPDATE {schema}.jobs j SET
            attempts = o.attempts, state = o.state, scheduled_at = o.scheduled_at,
            started_at = o.started_at, completed_at = o.completed_at, worker_id = o.worker_id,
            lease_until = o.lease_until, result = o.result, result_bytes = o.result_bytes,
            error_type = o.error_type, error = o.error, errors = o.errors
        FROM outcomes o
        WHERE j.id = o.id AND j.state = 'running'
          AND j.worker_id = o.fence_worker
          AND (j.attempts = o.attempts
               OR (j.started_at IS NULL AND j.attempts + 1 = o.attempts)
               OR (o.state = 'pending' AND j.attempts = o.attempts + 1))
        RETURNING j.id, j.task_id, j.max_instances, o.state
    ),
    -- An outcome already stored (a retry of a write whose reply was lost, or a batch the
    -- caller wrote again after cancelling it) counts as written, and changes nothing: the
    -- same end of the same attempt, with the same result or error.
    already AS (
        SELECT j.id FROM {schema}.jobs j JOIN outcomes o ON o.id = j.id
        WHERE j.state = o.state AND j.state <> 'running' AND j.attempts = o.attempts
          AND j.scheduled_at = o.scheduled_at
          AND j.completed_at IS NOT DISTINCT FROM o.completed_at
          AND j.worker_id IS NOT DISTINCT FROM o.worker_id
          AND (j.worker_id IS NULL OR j.worker_id = o.fence_worker)
          AND j.result IS NOT DISTINCT FROM o.result
          AND j.result_bytes IS NOT DISTINCT FROM o.result_bytes
          AND j.error IS NOT DISTINCT FROM o.error
    ),
    freed AS (
        SELECT task_id, count(*) AS n FROM written
        WHERE task_id IS NOT NULL AND max_instances IS NOT NULL GROUP BY task_id
    ),
    -- The counters are locked in task order, as acquire_jobs locks them: no deadlock.
    slots AS MATERIALIZED (
        SELECT task_id FROM {schema}.task_instances
        WHERE task_id IN (SELECT task_id FROM freed) ORDER BY task_id FOR UPDATE
    ),
    released AS (
        UPDATE {schema}.task_instances t SET running = greatest(t.running - f.n, 0)
        FROM freed f JOIN slots s ON s.task_id = f.task_id
        WHERE t.task_id = f.task_id
    )
    SELECT (SELECT array_agg(id) FROM written) || (SELECT array_agg(id) FROM already),
        CASE WHEN bool_or(state IN ('pending', 'retrying'))
             THEN (SELECT pg_notify(%(channel)s, %(wake)s))::text END
    FROM written
"""
)
"""Write attempts' outcomes (fenced); returns the ids written."""

EXTEND_LEASES = """
    UPDATE {schema}.jobs
    SET lease_until = %(lease_until)s,
        attempts = attempts + (started_at IS NULL)::int,
        started_at = coalesce(started_at, now())
    WHERE id = ANY(%(ids)s) AND state = 'running' AND worker_id = %(worker_id)s
    RETURNING id
"""
"""Renew leases this worker holds; a job it lost is not touched (fenced like completion).
Confirms that a job handed over to it started: it counts the attempt and sets started_at."""

REDELIVER_HANDOFFS = f"""
    UPDATE {{schema}}.jobs SET lease_until = now() + %(lease)s
    WHERE worker_id = %(worker_id)s AND state = 'running' AND started_at IS NULL
    RETURNING {JOB_COLUMNS}
"""
"""The jobs handed over to this worker and not yet confirmed, their leases renewed (so that
none is rescued while the worker starts it): the hand-overs it may have missed."""

WITHDRAW_OFFERS = "DELETE FROM {schema}.offers WHERE worker_id = %(worker_id)s"
"""Take back a worker's offers (it stops)."""

EXPIRED_JOBS = f"""
    SELECT {JOB_COLUMNS} FROM {{schema}}.jobs
    WHERE state = 'running' AND lease_until < %(now)s
    ORDER BY lease_until
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
"""
"""Running jobs whose lease ran out, locked until the rescue's transaction ends. SKIP LOCKED:
a job its worker is completing right now is left to that completion."""

CANCEL_JOB = f"""
    WITH cancelled AS (
        UPDATE {{schema}}.jobs SET state = 'cancelled', completed_at = %(now)s
        WHERE id = %(id)s AND state IN ('pending', 'retrying')
        RETURNING {JOB_COLUMNS}
    )
    SELECT * FROM cancelled
    UNION ALL
    SELECT {JOB_COLUMNS} FROM {{schema}}.jobs
    WHERE id = %(id)s AND NOT EXISTS (SELECT FROM cancelled)
"""
"""Cancel a waiting job; otherwise return it unchanged. The UPDATE waits for a worker that
is claiming the job and then re-checks its state, so a claimed job is never cancelled."""

PRUNE_JOBS = """
    WITH doomed AS (
        SELECT id FROM {schema}.jobs
        WHERE state IN ('succeeded', 'failed', 'cancelled', 'skipped')
          AND completed_at < %(before)s
        ORDER BY completed_at
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ),
    pruned AS (
        DELETE FROM {schema}.jobs j USING doomed d WHERE j.id = d.id RETURNING j.task_id
    ),
    -- The running-instance counters of the pruned jobs' tasks that are gone and have no
    -- unfinished job left: nothing reads them again (a job inserted for such a task later
    -- makes its counter anew, see ENSURE_COUNTERS).
    idle AS (
        SELECT c.task_id FROM {schema}.task_instances c
        WHERE c.task_id IN (SELECT task_id FROM pruned)
          AND c.running = 0
          AND NOT EXISTS (SELECT FROM {schema}.tasks t WHERE t.id = c.task_id)
          AND NOT EXISTS (
              SELECT FROM {schema}.jobs j
              WHERE j.task_id = c.task_id AND j.state IN ('pending', 'running', 'retrying')
          )
        FOR UPDATE SKIP LOCKED
    ),
    forgotten AS (
        DELETE FROM {schema}.task_instances c USING idle i WHERE c.task_id = i.task_id
    )
    SELECT count(*) FROM pruned
"""
"""Delete a batch of old finished jobs, and the counters of their tasks once nothing needs
them; touches only finished rows and idle counters, never the hot ones."""
