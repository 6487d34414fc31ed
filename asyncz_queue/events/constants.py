"""Event codes: bit flags, so a listener's mask is the `|` of the codes it wants."""

from __future__ import annotations

SCHEDULER_START = 2**0
SCHEDULER_STARTED = SCHEDULER_START
SCHEDULER_SHUTDOWN = 2**1
SCHEDULER_PAUSED = 2**2
SCHEDULER_RESUMED = 2**3
EXECUTOR_ADDED = 2**4
EXECUTOR_REMOVED = 2**5
STORE_ADDED = 2**6
STORE_REMOVED = 2**7
ALL_TASKS_REMOVED = 2**8
TASK_ADDED = 2**9
TASK_REMOVED = 2**10
TASK_MODIFIED = 2**11
TASK_EXECUTED = 2**12
JOB_SUCCEEDED = TASK_EXECUTED
TASK_ERROR = 2**13
JOB_FAILED = TASK_ERROR
TASK_MISSED = 2**14
TASK_SUBMITTED = 2**15
TASK_MAX_INSTANCES = 2**16
JOB_PUSHED = 2**17
JOB_STARTED = 2**18
JOB_RETRYING = 2**19
JOB_CANCELLED = 2**20
#: A loop could not reach a store (database down, connection lost); it retries with backoff.
STORE_ERROR = 2**21

ALL_EVENTS = (
    SCHEDULER_START
    | SCHEDULER_SHUTDOWN
    | SCHEDULER_PAUSED
    | SCHEDULER_RESUMED
    | EXECUTOR_ADDED
    | EXECUTOR_REMOVED
    | STORE_ADDED
    | STORE_REMOVED
    | ALL_TASKS_REMOVED
    | TASK_ADDED
    | TASK_REMOVED
    | TASK_MODIFIED
    | TASK_EXECUTED
    | TASK_ERROR
    | TASK_MISSED
    | TASK_SUBMITTED
    | TASK_MAX_INSTANCES
    | JOB_PUSHED
    | JOB_STARTED
    | JOB_RETRYING
    | JOB_CANCELLED
    | STORE_ERROR
)

#: Readable names of the codes (the first name wins for aliases such as JOB_SUCCEEDED).
EVENT_NAMES: dict[int, str] = {}
for _name, _value in list(globals().items()):
    if _name.isupper() and isinstance(_value, int) and _name not in ("ALL_EVENTS",):
        EVENT_NAMES.setdefault(_value, _name)
del _name, _value
