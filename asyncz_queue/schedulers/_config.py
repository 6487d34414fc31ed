"""Turning the scheduler's constructor arguments into stores, executors and defaults."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

from pydantic import ValidationError

from asyncz_queue.exceptions import ConfigurationError
from asyncz_queue.executors import EXECUTORS, BaseExecutor
from asyncz_queue.stores import STORES, BaseStore
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import DateTrigger, _tz
from asyncz_queue.triggers.base import InvalidTriggerError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Role = Literal["scheduler", "worker", "both"]
ROLES: tuple[str, ...] = ("scheduler", "worker", "both")

#: Options a task takes from `task_defaults` when `add_task` does not give them.
TASK_DEFAULTS: dict[str, Any] = {
    "max_instances": 1,
    "coalesce": True,
    "mistrigger_grace_time": 1.0,
    "max_attempts": 1,
    "retry_backoff": 1.0,
    "retry_backoff_max": 300.0,
    "timeout": None,
}


def build_stores(config: dict[str, Any] | None) -> dict[str, BaseStore]:
    """Stores by name from instances or `{"type"|"class": ..., **options}` dicts."""
    if not config:
        config = {"default": {"type": "memory"}}
    return {name: STORES.create(name, value) for name, value in config.items()}


def build_executor(name: str, config: Any) -> BaseExecutor:
    """One executor from an instance or a config dict; its `name` is set to `name`."""
    executor = EXECUTORS.create(name, config)
    executor.name = name
    return executor


def build_executors(config: dict[str, Any] | None) -> dict[str, BaseExecutor]:
    """Executors by name; without config, one `"default"` of type `asyncio`."""
    if not config:
        config = {"default": {"type": "asyncio"}}
    return {name: build_executor(name, value) for name, value in config.items()}


def build_task_defaults(config: dict[str, Any] | None) -> dict[str, Any]:
    """`TASK_DEFAULTS` updated with `config`; an unknown key, or a value a task would refuse,
    raises `ConfigurationError` naming it (now, not at the first `add_task`)."""
    defaults = dict(TASK_DEFAULTS)
    for key, value in (config or {}).items():
        if key not in TASK_DEFAULTS:
            known = ", ".join(sorted(TASK_DEFAULTS))
            raise ConfigurationError(f"unknown task default {key!r}; known: {known}")
        defaults[key] = value
    probe = {"id": "probe", "fn": "builtins:print", "trigger": DateTrigger(run_at=_EPOCH)}
    try:
        Task.model_validate({**probe, **defaults})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigurationError(
            f"task default {error['loc'][0]!r} is invalid: {error['msg']} (got {error['input']!r})"
        ) from None
    return defaults


def resolve_timezone(timezone: str | tzinfo | None) -> tzinfo:
    """A tzinfo from an IANA name, a `+HH:MM` offset or a tzinfo; None and "UTC" mean
    `datetime.UTC`, the zone of `utcnow()` (datetimes that share a tzinfo object compare
    about 10x faster than ones that do not, and the fire loop compares them per task)."""
    try:
        return _tz.resolve_timezone(timezone) or UTC
    except InvalidTriggerError:
        raise ConfigurationError(f"unknown timezone {timezone!r}") from None


def check_role(role: str) -> Role:
    """`role` if it is one of `scheduler`, `worker`, `both`."""
    if role not in ROLES:
        raise ConfigurationError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


def default_identity() -> str:
    """A name for this process that is unique in the cluster: host, pid and a random tag."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
