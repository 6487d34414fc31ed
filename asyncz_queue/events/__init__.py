"""Events: codes, models and in-process delivery."""

from asyncz_queue.events import constants
from asyncz_queue.events.broker import EventBroker, Listener
from asyncz_queue.events.models import JobEvent, SchedulerEvent, TaskEvent, event_from_dict

__all__ = [
    "EventBroker",
    "JobEvent",
    "Listener",
    "SchedulerEvent",
    "TaskEvent",
    "constants",
    "event_from_dict",
]
