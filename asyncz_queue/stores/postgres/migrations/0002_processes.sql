-- asyncz_queue schema version 2: the last heartbeat of every scheduler using the schema.

CREATE TABLE processes (
    identity  text COLLATE "C" PRIMARY KEY,
    -- Role, executors and their load, as the scheduler reported them.
    info      text NOT NULL,
    last_seen timestamptz NOT NULL
);
