"""Building the events the scheduler reports about jobs."""

from __future__ import annotations

from asyncz_queue.events import JobEvent
from asyncz_queue.jobs import Job, JobState


def job_event(code: int, job: Job, identity: str) -> JobEvent:
    """The event `code` about `job` as it is now: its result once succeeded, its last error
    once failed, retrying or cancelled while running."""
    failed = job.state in (JobState.FAILED, JobState.RETRYING) or (
        job.state is JobState.CANCELLED and job.error is not None
    )
    return JobEvent(
        code=code,
        scheduler_identity=identity,
        job_id=job.id,
        task_id=job.task_id,
        executor=job.executor,
        scheduled_at=job.scheduled_at,
        attempt=job.attempts,
        return_value=job.result if job.state is JobState.SUCCEEDED else None,
        exception=f"{job.error_type}: {job.error}" if failed else None,
        traceback=job.errors[-1] if failed and job.errors else None,
    )
