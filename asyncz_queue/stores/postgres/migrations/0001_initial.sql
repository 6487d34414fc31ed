-- asyncz_queue schema version 1: tasks, jobs and the running-instance counters.
--
-- The migration runner executes this file in one transaction, under an advisory lock, with
-- search_path set to the store's schema, so the names below are created in that schema.
-- Keys are COLLATE "C": byte order equals Python's str order, and comparisons are cheap.
-- JSON documents are kept as text, exactly as the serializer wrote them: Python's JSON may
-- hold escapes that PostgreSQL's json type refuses (lone surrogates), and the store never
-- queries inside them. Cast to json to look inside from SQL.

CREATE TABLE tasks (
    id              text COLLATE "C" PRIMARY KEY,
    -- NULL while the task is paused.
    next_run_time   timestamptz,
    -- The scheduler firing the task right now and until when (acquire_tasks/release_tasks).
    lease_owner     text,
    lease_until     timestamptz,
    -- The task as JSON, without args, kwargs and next_run_time.
    spec            text NOT NULL,
    -- [args, kwargs]: JSON text for a JSON store, bytes for any other serializer (pickle).
    arguments       text,
    arguments_bytes bytea
);

-- acquire_tasks and get_next_run_time: the due tasks, earliest first.
CREATE INDEX tasks_due ON tasks (next_run_time) WHERE next_run_time IS NOT NULL;

CREATE TABLE jobs (
    id                text COLLATE "C" PRIMARY KEY,
    -- Insertion order: breaks ties between equal priority and scheduled_at.
    seq               bigserial NOT NULL,
    task_id           text COLLATE "C",
    fn                text NOT NULL,
    arguments         text,
    arguments_bytes   bytea,
    executor          text COLLATE "C" NOT NULL,
    priority          integer NOT NULL,
    state             text NOT NULL CHECK (
        state IN ('pending', 'running', 'succeeded', 'failed', 'retrying', 'cancelled', 'skipped')
    ),
    attempts          integer NOT NULL,
    max_attempts      integer NOT NULL,
    max_instances     integer,
    retry_on          text NOT NULL,
    retry_backoff     double precision NOT NULL,
    retry_backoff_max double precision NOT NULL,
    timeout           double precision,
    unique_key        text COLLATE "C",
    scheduled_at      timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    -- The worker holding the current attempt and until when (NULL unless running).
    worker_id         text,
    lease_until       timestamptz,
    result            text,
    result_bytes      bytea,
    error_type        text,
    error             text,
    -- Every failed attempt's traceback, oldest first.
    errors            text NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

-- One job per fire: a re-fire after a crash inserts nothing (release_tasks: ON CONFLICT).
CREATE UNIQUE INDEX jobs_fire ON jobs (task_id, scheduled_at) WHERE task_id IS NOT NULL;

-- A unique_key is held by at most one unfinished job (add_jobs: ON CONFLICT).
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('pending', 'running', 'retrying');

-- acquire_jobs: the waiting jobs of one executor in the order they run (get_next_job_time
-- skip-scans it too: one probe per distinct priority).
CREATE INDEX jobs_claim ON jobs (executor, priority, scheduled_at, seq)
    WHERE state IN ('pending', 'retrying');

-- rescue_jobs: running jobs by lease expiry.
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE state = 'running';

-- prune_jobs: finished jobs by completion time.
CREATE INDEX jobs_finished ON jobs (completed_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled', 'skipped');

-- get_jobs: newest first.
CREATE INDEX jobs_seq ON jobs (seq);

-- How many jobs of each task run now, in any process. acquire_jobs locks a task's row before
-- it starts jobs of that task and every write that ends an attempt decrements it under the
-- same lock, so max_instances holds across processes. Kept apart from tasks because a job
-- may outlive its task (a date trigger's task is deleted when it fires).
CREATE TABLE task_instances (
    task_id text COLLATE "C" PRIMARY KEY,
    running integer NOT NULL DEFAULT 0
);
