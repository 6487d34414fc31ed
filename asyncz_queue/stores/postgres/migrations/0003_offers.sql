-- asyncz_queue schema version 3: the free slots idle workers offer to pushers.
--
-- A worker whose claim leaves an executor's slots free (nothing due is waiting for it)
-- writes them here; a push of a job that nothing due is ahead of takes one of them and
-- inserts the job already running under that worker's lease, then hands it over on the
-- channel: the job starts without a claim's round trip (see `ADD_NEW_JOB`). An offer is
-- rewritten by every claim of its worker and lapses at `until` (the worker stopped
-- claiming: paused, stopped, dead). Times here are the server's clock, never a client's.

CREATE TABLE offers (
    worker_id text COLLATE "C" NOT NULL,
    executor  text COLLATE "C" NOT NULL,
    free      integer NOT NULL,
    -- The worker's lease length, for the jobs handed to it.
    lease     interval NOT NULL,
    until     timestamptz NOT NULL,
    PRIMARY KEY (executor, worker_id)
);
