"""How the command line shows triggers, one job and the status report to people."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from asyncz_queue._cli_common import format_duration, format_time, print_table
from asyncz_queue.jobs import Job, JobState
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import BaseTrigger

_QUIET = {"type", "timezone", "start_at", "end_at", "jitter"}
_UNITS = {"weeks": 604_800, "days": 86_400, "hours": 3600, "minutes": 60, "seconds": 1}


def describe_trigger(trigger: BaseTrigger) -> str:
    """A short description: `every 5m00s`, `once at ...`, `cron hour=3 minute=0`."""
    return _describe(trigger.to_dict())


def _describe(data: Mapping[str, Any]) -> str:
    kind = data.get("type", "?")
    if kind == "interval":
        seconds = sum(float(data.get(unit) or 0) * size for unit, size in _UNITS.items())
        return f"every {format_duration(seconds)}"
    if kind == "date":
        run_at = data.get("run_at")
        when = format_time(datetime.fromisoformat(run_at)) if isinstance(run_at, str) else run_at
        return f"once at {when}"
    if kind in ("and", "or") and isinstance(data.get("triggers"), list):
        return f" {kind} ".join(f"({_describe(part)})" for part in data["triggers"])
    fields = " ".join(
        f"{key}={value}"
        for key, value in data.items()
        if key not in _QUIET and value not in (None, "*")  # `*`: the cron default
    )
    return f"{kind} {fields}".strip()


def print_job(job: Job) -> None:
    """Every field of `job`, one per line, then the traceback of each failed attempt."""
    fields: list[tuple[str, Any]] = [
        ("id", job.id),
        ("state", job.state.value),
        ("fn", job.fn),
        ("args", json.dumps(list(job.args), default=str)),
        ("kwargs", json.dumps(job.kwargs, default=str)),
        ("task", job.task_id or "-"),
        ("executor", job.executor),
        ("priority", job.priority),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("scheduled", format_time(job.scheduled_at)),
        ("created", format_time(job.created_at)),
        ("started", format_time(job.started_at)),
        ("completed", format_time(job.completed_at)),
        ("worker", job.worker_id or "-"),
    ]
    if job.state is JobState.SUCCEEDED:
        fields.append(("result", json.dumps(job.result, default=str)))
    if job.error_type is not None:
        fields.append(("error", f"{job.error_type}: {job.error}" if job.error else job.error_type))
    for name, value in fields:
        print(f"{name:<10} {value}")
    if job.errors:
        print(f"\nerrors ({len(job.errors)}):")
        for number, text in enumerate(job.errors, start=1):
            print(f"--- failed attempt {number} ---")
            print(text.rstrip())


def status_report(
    jobs: Mapping[JobState, Sequence[Job]],
    tasks: Sequence[Task],
    heartbeats: Sequence[Mapping[str, Any]],
    now: datetime,
    limit: int,
) -> dict[str, Any]:
    """Counts per executor, the processes, and a task summary, as plain data.

    `jobs` holds up to `limit` jobs per state; a state that reached it is listed under
    `"truncated"` (its counts are then lower bounds). `heartbeats` is `get_processes()`;
    a process that runs jobs without a heartbeat is listed with `last_seen` None.
    """
    hour_ago = now - timedelta(hours=1)
    executors: dict[str, Counter[str]] = defaultdict(Counter)
    for state, found in jobs.items():
        for job in found:
            if state is not JobState.FAILED:
                executors[job.executor][state.value] += 1
            elif job.completed_at is not None and job.completed_at >= hour_ago:
                executors[job.executor]["failed_last_hour"] += 1
    next_times = [task.next_run_time for task in tasks if task.next_run_time is not None]
    columns = ("running", "pending", "retrying", "failed_last_hour")
    return {
        "time": now,
        "executors": {
            alias: {column: counts[column] for column in columns}
            for alias, counts in sorted(executors.items())
        },
        "processes": _processes(heartbeats, jobs.get(JobState.RUNNING, ())),
        "tasks": {
            "total": len(tasks),
            "paused": sum(task.paused for task in tasks),
            "next_run_time": min(next_times, default=None),
        },
        "truncated": [state.value for state, found in jobs.items() if len(found) >= limit],
    }


def _processes(
    heartbeats: Sequence[Mapping[str, Any]], running: Sequence[Job]
) -> list[dict[str, Any]]:
    """One entry per process that sent a heartbeat or holds a running job.

    `running` counts the jobs the store says it holds (exact, unlike the heartbeat's load,
    which is as old as the heartbeat); `slots` is the sum of its executors' `max_workers`.
    """
    holders = Counter(job.worker_id for job in running if job.worker_id is not None)
    found: dict[str, dict[str, Any]] = {}
    for beat in heartbeats:
        identity = beat["identity"]
        executors = beat.get("executors") or {}
        found[identity] = {
            "identity": identity,
            "role": beat.get("role"),
            "paused": beat.get("paused"),
            "running": holders.get(identity, 0),
            "slots": sum(entry.get("max_workers", 0) for entry in executors.values()),
            "last_seen": beat.get("last_seen"),
        }
    for identity, count in holders.items():
        found.setdefault(
            identity,
            {"identity": identity, "role": None, "paused": None, "running": count,
             "slots": None, "last_seen": None},
        )  # fmt: skip
    return sorted(found.values(), key=lambda entry: entry["identity"])


def print_status(report: Mapping[str, Any]) -> None:
    """The `status_report` as tables."""
    print(f"status at {format_time(report['time'])}")
    print("\njobs per executor (failed: in the last hour)")
    if report["executors"]:
        print_table(
            ["EXECUTOR", "RUNNING", "PENDING", "RETRYING", "FAILED"],
            ([alias, *counts.values()] for alias, counts in report["executors"].items()),
        )
    else:
        print("no running, waiting or recently failed jobs")
    print("\nprocesses (last heartbeat; '-': none, seen only through the jobs it runs)")
    if report["processes"]:
        now = report["time"]
        print_table(
            ["IDENTITY", "ROLE", "RUNNING", "SLOTS", "LAST HEARTBEAT"],
            (
                [p["identity"], p["role"], p["running"], p["slots"], _age(p["last_seen"], now)]
                for p in report["processes"]
            ),
        )
    else:
        print("none")
    tasks = report["tasks"]
    print(
        f"\ntasks: {tasks['total']} ({tasks['paused']} paused); "
        f"next run {format_time(tasks['next_run_time'])}"
    )
    if report["truncated"]:
        print(f"(counted at most the newest jobs of: {', '.join(report['truncated'])})")


def _age(when: datetime | None, now: datetime) -> str | None:
    if when is None:
        return None
    return f"{format_duration(max((now - when).total_seconds(), 0.0))} ago"
