"""asyncz_queue: an asyncio scheduler and job queue.

Tasks (a callable on a date, interval or cron trigger) fire into jobs; jobs run on
executors registered by alias (`asyncio`, `threadpool`, `processpool`, `debug`); every
change is an event. The memory store is the embedded default; PostgreSQL is the durable,
multi-process one.
"""

from asyncz_queue.jobs import Job, JobState, Reference, current_job
from asyncz_queue.schedulers import AsyncIOScheduler
from asyncz_queue.tasks import Task

__all__ = ["AsyncIOScheduler", "Job", "JobState", "Reference", "Task", "current_job"]
__version__ = "0.1.0"
