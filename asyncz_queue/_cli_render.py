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
        f"{key}={value}" for key, value in data.items() if key not in _QUIET and value is not None
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
    jobs: Mapping[JobState, Sequence[Job]], tasks: Sequence[Task], now: datetime, limit: int
) -> dict[str, Any]:
    """Counts per executor, the processes running jobs and a task summary, as plain data.

    `jobs` holds up to `limit` jobs per state; a state that reached it is listed under
    `"truncated"` (its counts are then lower bounds).
    """
    hour_ago = now - timedelta(hours=1)
    executors: dict[str, Counter[str]] = defaultdict(Counter)
    for state, found in jobs.items():
        for job in found:
            if state is JobState.FAILED:
                if job.completed_at is not None and job.completed_at >= hour_ago:
                    executors[job.executor]["failed_last_hour"] += 1
            else:
                executors[job.executor][state.value] += 1
    processes: dict[str, dict[str, Any]] = {}
    for job in jobs.get(JobState.RUNNING, ()):
        entry = processes.setdefault(
            job.worker_id or "?", {"identity": job.worker_id, "running": 0, "lease_until": None}
        )
        entry["running"] += 1
        if job.lease_until is not None and (
            entry["lease_until"] is None or job.lease_until > entry["lease_until"]
        ):
            entry["lease_until"] = job.lease_until
    next_times = [task.next_run_time for task in tasks if task.next_run_time is not None]
    columns = ("running", "pending", "retrying", "failed_last_hour")
    return {
        "time": now,
        "executors": {
            alias: {column: counts[column] for column in columns}
            for alias, counts in sorted(executors.items())
        },
        "processes": sorted(processes.values(), key=lambda entry: str(entry["identity"])),
        "tasks": {
            "total": len(tasks),
            "paused": sum(task.paused for task in tasks),
            "next_run_time": min(next_times, default=None),
        },
        "truncated": [state.value for state, found in jobs.items() if len(found) >= limit],
    }


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
    print("\nprocesses running jobs (a live worker keeps renewing its leases)")
    if report["processes"]:
        print_table(
            ["IDENTITY", "RUNNING", "LEASE UNTIL (UTC)"],
            ([p["identity"], p["running"], p["lease_until"]] for p in report["processes"]),
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
