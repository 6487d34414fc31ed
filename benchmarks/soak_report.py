"""The soak's audit tables and its verdict: what was lost, what ran twice.

The audit lives in the schema `soak_audit` of the soak's database:

- `executions`: one row per attempt a job function started (inserted by the function);
- `fires`: one row per job the fire loop inserted (an `AFTER INSERT` trigger on the store's
  `jobs` table), with the run time it was fired for, before any retry moves `scheduled_at`;
- `successes`: one row each time a job row *enters* `succeeded` (an `AFTER UPDATE` trigger);
- `rewrites`: one row each time a finished job row changes state again (never allowed).

Guarantees checked (see `verdict`): every pushed job and every due fire reaches a final
state (else lost); no `(job id, attempt)` runs twice, no job runs more attempts than its
`max_attempts`, no job enters `succeeded` twice, no finished job changes state, and no run
time of a task gets two jobs (else duplicated). A job may run again as a *new* attempt after
its worker was killed or stopped past its lease: that is at-least-once per job, exactly-once
per attempt, and is reported as "re-executions", not as a duplicate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import sql

AUDIT = "soak_audit"
FINAL = ("succeeded", "failed", "cancelled", "skipped")


def audit_ddl(schema: str) -> list[sql.Composed | sql.SQL]:
    """Statements creating the audit tables and the triggers on `<schema>.jobs`."""
    jobs = sql.SQL("{}.jobs").format(sql.Identifier(schema))
    return [
        sql.SQL("DROP SCHEMA IF EXISTS soak_audit CASCADE"),
        sql.SQL("CREATE SCHEMA soak_audit"),
        sql.SQL(
            "CREATE TABLE soak_audit.executions (job_id text, attempt int, task_id text, "
            "scheduled_at timestamptz, worker text, pid int, "
            "at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ),
        sql.SQL(
            "CREATE TABLE soak_audit.fires (job_id text, task_id text, "
            "scheduled_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ),
        sql.SQL(
            "CREATE TABLE soak_audit.successes (job_id text, attempts int, worker_id text, "
            "at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ),
        sql.SQL(
            "CREATE TABLE soak_audit.rewrites (job_id text, old_state text, new_state text, "
            "attempts int, worker_id text, at timestamptz NOT NULL DEFAULT clock_timestamp())"
        ),
        sql.SQL(
            """CREATE FUNCTION soak_audit.on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO soak_audit.fires (job_id, task_id, scheduled_at)
                VALUES (NEW.id, NEW.task_id, NEW.scheduled_at);
                RETURN NULL;
            END $$"""
        ),
        sql.SQL(
            """CREATE FUNCTION soak_audit.on_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.state = 'succeeded' AND OLD.state <> 'succeeded' THEN
                    INSERT INTO soak_audit.successes (job_id, attempts, worker_id)
                    VALUES (NEW.id, NEW.attempts, NEW.worker_id);
                END IF;
                IF OLD.state IN ('succeeded', 'failed', 'cancelled', 'skipped')
                   AND NEW.state <> OLD.state THEN
                    INSERT INTO soak_audit.rewrites (job_id, old_state, new_state, attempts,
                                                     worker_id)
                    VALUES (NEW.id, OLD.state, NEW.state, NEW.attempts, NEW.worker_id);
                END IF;
                RETURN NULL;
            END $$"""
        ),
        sql.SQL(
            "CREATE TRIGGER soak_fires AFTER INSERT ON {} FOR EACH ROW "
            "WHEN (NEW.task_id IS NOT NULL) EXECUTE FUNCTION soak_audit.on_insert()"
        ).format(jobs),
        sql.SQL(
            "CREATE TRIGGER soak_states AFTER UPDATE OF state ON {} FOR EACH ROW "
            "WHEN (NEW.state IS DISTINCT FROM OLD.state) EXECUTE FUNCTION soak_audit.on_update()"
        ).format(jobs),
    ]


@dataclass
class Verdict:
    """The counts the soak prints; `lost` and `duplicated` must both be zero."""

    pushed: int = 0
    fires_due: int = 0
    fires_inserted: int = 0
    executions: int = 0
    re_executions: int = 0
    states: Counter[str] = field(default_factory=Counter)
    failed_errors: Counter[str] = field(default_factory=Counter)
    lost: dict[str, list[str]] = field(default_factory=dict)
    duplicated: dict[str, list[str]] = field(default_factory=dict)

    @property
    def lost_count(self) -> int:
        return sum(len(items) for items in self.lost.values())

    @property
    def duplicated_count(self) -> int:
        return sum(len(items) for items in self.duplicated.values())


def _rows(conn: Any, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    return conn.execute(sql.SQL(query), params).fetchall()  # type: ignore[arg-type]


def verdict(
    conn: Any, schema: str, pushed_ids: set[str], due: dict[str, list[datetime]]
) -> Verdict:
    """Compare what was pushed and due with what the jobs table and the audit say."""
    jobs = sql.Identifier(schema).as_string(conn) + ".jobs"
    v = Verdict(pushed=len(pushed_ids), fires_due=sum(len(times) for times in due.values()))
    state_of = {
        job_id: (state, task_id, attempts, max_attempts, error_type)
        for job_id, state, task_id, attempts, max_attempts, error_type in _rows(
            conn,
            f"SELECT id, state, task_id, attempts, max_attempts, error_type FROM {jobs}",
        )
    }
    v.states = Counter(row[0] for row in state_of.values())
    v.failed_errors = Counter(row[4] or "?" for row in state_of.values() if row[0] == "failed")

    # ---- lost -----------------------------------------------------------------------
    v.lost["pushed job missing from the store"] = sorted(pushed_ids - set(state_of))
    v.lost["pushed job not in a final state"] = sorted(
        job_id for job_id in pushed_ids if job_id in state_of and state_of[job_id][0] not in FINAL
    )
    fires = _rows(conn, f"SELECT job_id, task_id, scheduled_at FROM {AUDIT}.fires")
    v.fires_inserted = len(fires)
    fired = {(task_id, when) for _, task_id, when in fires}
    v.lost["due fire never turned into a job"] = [
        f"{task_id}@{when.isoformat()}"
        for task_id, times in due.items()
        for when in times
        if (task_id, when) not in fired
    ]
    v.lost["fired job not in a final state"] = sorted(
        job_id for job_id, _, _ in fires if state_of.get(job_id, ("?",))[0] not in FINAL
    )
    executed = {
        (job_id, attempt) for job_id, attempt in _rows(
            conn, f"SELECT DISTINCT job_id, attempt FROM {AUDIT}.executions"
        )
    }  # fmt: skip
    v.lost["job succeeded without an execution of that attempt"] = sorted(
        job_id
        for job_id, (state, _, attempts, _, _) in state_of.items()
        if state == "succeeded" and (job_id, attempts) not in executed
    )

    # ---- duplicated -----------------------------------------------------------------
    v.executions = _rows(conn, f"SELECT count(*) FROM {AUDIT}.executions")[0][0]
    v.duplicated["(job id, attempt) executed twice"] = [
        f"{job_id}#{attempt} x{n}"
        for job_id, attempt, n in _rows(
            conn,
            f"SELECT job_id, attempt, count(*) FROM {AUDIT}.executions "
            "GROUP BY 1, 2 HAVING count(*) > 1",
        )
    ]
    v.duplicated["attempt beyond max_attempts"] = [
        f"{job_id}#{attempt}"
        for job_id, attempt in sorted(executed)
        if job_id in state_of and attempt > state_of[job_id][3]
    ]
    v.duplicated["job entered succeeded twice"] = [
        f"{job_id} x{n}"
        for job_id, n in _rows(
            conn,
            f"SELECT job_id, count(*) FROM {AUDIT}.successes GROUP BY 1 HAVING count(*) > 1",
        )
    ]
    v.duplicated["finished job changed state again"] = [
        f"{job_id}: {old} -> {new} (attempt {attempts}, {worker})"
        for job_id, old, new, attempts, worker in _rows(
            conn, f"SELECT job_id, old_state, new_state, attempts, worker_id FROM {AUDIT}.rewrites"
        )
    ]
    v.duplicated["run time fired into two jobs"] = [
        f"{task_id}@{when.isoformat()} x{n}"
        for task_id, when, n in _rows(
            conn,
            f"SELECT task_id, scheduled_at, count(DISTINCT job_id) FROM {AUDIT}.fires "
            "GROUP BY 1, 2 HAVING count(DISTINCT job_id) > 1",
        )
    ]
    due_set = {(task_id, when) for task_id, times in due.items() for when in times}
    v.duplicated["fire at a time that was not due"] = sorted(
        f"{task_id}@{when.isoformat()}" for task_id, when in fired - due_set
    )
    v.re_executions = sum(
        1 for job_id, attempt in executed if job_id in state_of and attempt < state_of[job_id][2]
    )
    return v


def print_verdict(v: Verdict, limit: int = 10) -> None:
    """Print the counts, then the first `limit` offenders of every non-empty check."""
    print(f"jobs pushed:                 {v.pushed}")
    print(f"fires due:                   {v.fires_due} (jobs the fire loop inserted: "
          f"{v.fires_inserted})")  # fmt: skip
    print(f"executions (audit rows):     {v.executions}")
    print(f"  of superseded attempts:    {v.re_executions} (allowed: planned first-attempt "
          "failures, and attempts whose lease was lost)")  # fmt: skip
    print(f"final states:                {dict(sorted(v.states.items()))}")
    if v.failed_errors:
        print(f"  failed, by last error:     {dict(v.failed_errors)}")
    print(f"LOST:                        {v.lost_count}")
    for reason, items in v.lost.items():
        print(f"  {reason}: {len(items)}")
        for item in items[:limit]:
            print(f"    {item}")
    print(f"DUPLICATED:                  {v.duplicated_count}")
    for reason, items in v.duplicated.items():
        print(f"  {reason}: {len(items)}")
        for item in items[:limit]:
            print(f"    {item}")
