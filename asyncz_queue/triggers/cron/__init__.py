"""`CronTrigger` and the parsing of its fields and of crontab lines."""

from __future__ import annotations

from asyncz_queue.triggers.cron.fields import CronFieldError
from asyncz_queue.triggers.cron.trigger import CronTrigger

__all__ = ["CronFieldError", "CronTrigger"]
