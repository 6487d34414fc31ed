"""The task half of the scheduler's API: add, look up, change and delete tasks."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Coroutine
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any, TypeVar

from asyncz_queue.events import TaskEvent, constants
from asyncz_queue.exceptions import ConflictIdError, TaskLookupError
from asyncz_queue.jobs import Reference, utcnow
from asyncz_queue.serializers import callable_to_ref
from asyncz_queue.tasks import Task
from asyncz_queue.triggers import BaseTrigger, build_trigger, preview_fire_times

if TYPE_CHECKING:
    from asyncz_queue.events import SchedulerEvent
    from asyncz_queue.executors import BaseExecutor
    from asyncz_queue.stores import BaseStore


logger = logging.getLogger("asyncz_queue.scheduler")

T = TypeVar("T")


class _Undefined:
    """Marks an argument that was not passed (None means something else)."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


class TaskAPI:
    """Task methods of `AsyncIOScheduler` (which provides the attributes declared here)."""

    if TYPE_CHECKING:
        stores: dict[str, BaseStore]
        executors: dict[str, BaseExecutor]
        task_defaults: dict[str, Any]
        timezone: tzinfo
        identity: str
        running: bool

        def store(self, name: str) -> BaseStore: ...
        def check_executor(self, name: str) -> None: ...
        def emit(self, event: SchedulerEvent, store_name: str | None = None) -> None: ...
        async def push_many(self, jobs: list[Any], store: str = "default") -> list[Reference]: ...

    def __init__(self) -> None:
        self._pending_tasks: list[tuple[dict[str, Any], bool]] = []
        self._background: set[asyncio.Task[Any]] = set()

    async def add_task(
        self,
        fn: Callable[..., Any] | str,
        trigger: BaseTrigger | str | None = None,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        executor: str = "default",
        store: str = "default",
        max_instances: int = UNDEFINED,
        coalesce: bool = UNDEFINED,
        mistrigger_grace_time: float | None = UNDEFINED,
        next_run_time: datetime | None = UNDEFINED,
        replace_existing: bool = False,
        priority: int = 0,
        max_attempts: int = UNDEFINED,
        **trigger_args: Any,
    ) -> Task:
        """Add a task that calls `fn` on `trigger` and return it.

        `trigger` is a trigger or an alias (`"date"`, `"interval"`, `"cron"`, `"and"`,
        `"or"`) built from `trigger_args`; None runs once now. `next_run_time=None` adds the
        task paused. Before `start()` the task is kept and stored at start.

        Raises `ConflictIdError` for a duplicate id (unless `replace_existing`),
        `UnknownAliasError` for an executor or store that is not configured,
        `CallableReferenceError` when `fn` cannot be imported by name, `SerializationError`
        for arguments the store cannot keep, and `ValueError` for invalid options.
        """
        values = self._task_values(
            fn,
            trigger,
            args=args,
            kwargs=kwargs,
            id=id,
            name=name,
            executor=executor,
            store=store,
            max_instances=max_instances,
            coalesce=coalesce,
            mistrigger_grace_time=mistrigger_grace_time,
            next_run_time=next_run_time,
            priority=priority,
            max_attempts=max_attempts,
            **trigger_args,
        )
        if not self.running:
            return self._add_pending(values, replace_existing)
        return await self._store_task(values, replace_existing)

    def _task_values(
        self,
        fn: Callable[..., Any] | str,
        trigger: BaseTrigger | str | None = None,
        args: tuple[Any, ...] | list[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        id: str | None = None,
        name: str | None = None,
        executor: str = "default",
        store: str = "default",
        max_instances: int = UNDEFINED,
        coalesce: bool = UNDEFINED,
        mistrigger_grace_time: float | None = UNDEFINED,
        next_run_time: datetime | None = UNDEFINED,
        priority: int = 0,
        max_attempts: int = UNDEFINED,
        _verify: bool = True,
        **trigger_args: Any,
    ) -> dict[str, Any]:
        """Validate `add_task`'s arguments into the values of a `Task` (without storing)."""
        self.check_executor(executor)
        self.store(store)
        options = {
            key: self.task_defaults[key] if value is UNDEFINED else value
            for key, value in (
                ("max_instances", max_instances),
                ("coalesce", coalesce),
                ("mistrigger_grace_time", mistrigger_grace_time),
                ("max_attempts", max_attempts),
            )
        }
        for key in ("retry_backoff", "retry_backoff_max", "timeout"):
            options[key] = self.task_defaults[key]
        task_trigger = build_trigger(trigger, self.timezone, **trigger_args)
        values: dict[str, Any] = {
            "id": id or uuid.uuid4().hex,
            "name": name,
            "fn": callable_to_ref(fn, verify=_verify),
            "args": tuple(args or ()),
            "kwargs": dict(kwargs or {}),
            "trigger": task_trigger,
            "executor": executor,
            "store": store,
            "priority": priority,
            **options,
        }
        if next_run_time is not UNDEFINED:
            values["next_run_time"] = next_run_time
        return values

    def _add_pending(self, values: dict[str, Any], replace_existing: bool) -> Task:
        task = _pending_task(values)
        self.store(task.store).check_task(task)
        duplicate = [i for i, (v, _) in enumerate(self._pending_tasks) if v["id"] == task.id]
        if duplicate and not replace_existing:
            raise ConflictIdError(task.id)
        for index in reversed(duplicate):
            del self._pending_tasks[index]
        self._pending_tasks.append((values, replace_existing))
        return task

    async def _store_task(self, values: dict[str, Any], replace_existing: bool) -> Task:
        callable_to_ref(values["fn"])  # a decorated function's is verified only now
        if "next_run_time" not in values:
            trigger: BaseTrigger = values["trigger"]
            values = {
                **values,
                "next_run_time": trigger.get_next_trigger_time(self.timezone, None, utcnow()),
            }
        task = Task.model_validate(values)
        await self.store(task.store).add_task(task, replace_existing=replace_existing)
        self._task_event(constants.TASK_ADDED, task.id, task.store)
        return task

    async def _add_pending_tasks(self) -> None:
        # One at a time, each let go once stored: when one fails (its id is taken in the
        # store, say), `start()` raises and the rest are still there for the next try.
        while self._pending_tasks:
            values, replace_existing = self._pending_tasks[0]
            await self._store_task(values, replace_existing)
            del self._pending_tasks[0]

    def task(
        self, trigger: BaseTrigger | str | None = None, **options: Any
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator form of `add_task`: `@scheduler.task("cron", hour=3, id="nightly")`.

        The task is added at `start()`; when the scheduler already runs, at once, in the
        background (a decorator cannot wait for the store), and a task that cannot be
        stored (its id is taken, say) is logged as an error naming it. Invalid options
        raise from the decorator itself. Returns the function unchanged.
        """

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            replace_existing = options.pop("replace_existing", False)
            # The function is not bound in its module until the decorator returns: keep its
            # reference unverified; `_store_task` imports it back at start.
            ref = callable_to_ref(fn, verify=False)
            values = self._task_values(ref, trigger, _verify=False, **options)
            if self.running:
                task = self._in_background(self._store_task(values, replace_existing))
                task.add_done_callback(functools.partial(_log_refused, values["id"]))
            else:
                self._add_pending(values, replace_existing)
            return fn

        return decorate

    def _in_background(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run `work` as an asyncio task this scheduler holds on to until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _task_event(self, code: int, task_id: str | None, store: str) -> None:
        if not self.wants(code, store):
            return
        self.emit(
            TaskEvent(code=code, scheduler_identity=self.identity, task_id=task_id, store=store),
            store,
        )

    # ---- lookup ----------------------------------------------------------------------

    def _pending_index(self, task_id: str, store: str | None) -> int | None:
        """Where the task `task_id` waits among those added before `start()` (None: not
        there, or the scheduler runs and they are stored)."""
        if not self.running:
            for index, (values, _) in enumerate(self._pending_tasks):
                if values["id"] == task_id and store in (None, values["store"]):
                    return index
        return None

    async def _find(self, task_id: str, store: str | None) -> Task:
        index = self._pending_index(task_id, store)
        if index is not None:
            return _pending_task(self._pending_tasks[index][0])
        if store is not None:
            return await self.store(store).get_task(task_id)
        for candidate in self.stores.values():
            try:
                return await candidate.get_task(task_id)
            except TaskLookupError:
                continue
        raise TaskLookupError(task_id)

    async def get_task(self, task_id: str, store: str | None = None) -> Task:
        """The task with this id; `TaskLookupError` if there is none."""
        return await self._find(task_id, store)

    async def get_tasks(self, store: str | None = None) -> list[Task]:
        """Every task (of one store, or of all), by next run time; paused tasks last."""
        names = [store] if store is not None else list(self.stores)
        tasks: list[Task] = []
        for name in names:
            tasks += await self.store(name).get_tasks()
        if not self.running:
            tasks += [
                _pending_task(values)
                for values, _ in self._pending_tasks
                if store in (None, values["store"])
            ]
        return tasks

    # ---- changes ---------------------------------------------------------------------

    async def update_task(self, task_id: str, store: str | None = None, **changes: Any) -> Task:
        """Change fields of a task (`name`, `args`, `kwargs`, `executor`, `max_instances`,
        `coalesce`, `mistrigger_grace_time`, `next_run_time`, `priority`, ...)."""
        task = await self._find(task_id, store)
        if "fn" in changes:
            changes["fn"] = callable_to_ref(changes["fn"])
        if "executor" in changes:
            self.check_executor(changes["executor"])
        if "id" in changes and changes["id"] != task.id:
            raise ValueError("a task's id cannot be changed")
        index = self._pending_index(task_id, store)
        if index is not None:  # added before start(): stored with its changes at start()
            values, replace_existing = self._pending_tasks[index]
            values = {**values, **changes}
            updated = _pending_task(values)
            self._pending_tasks[index] = (values, replace_existing)
            self._task_event(constants.TASK_MODIFIED, updated.id, updated.store)
            return updated
        updated = Task.model_validate({**task.model_dump(), "trigger": task.trigger, **changes})
        await self.store(updated.store).update_task(updated)
        self._task_event(constants.TASK_MODIFIED, updated.id, updated.store)
        return updated

    async def reschedule_task(
        self,
        task_id: str,
        trigger: BaseTrigger | str,
        store: str | None = None,
        **trigger_args: Any,
    ) -> Task:
        """Give a task a new trigger; its next run time is computed from now."""
        new_trigger = build_trigger(trigger, self.timezone, **trigger_args)
        next_run_time = new_trigger.get_next_trigger_time(self.timezone, None, utcnow())
        return await self.update_task(
            task_id, store, trigger=new_trigger, next_run_time=next_run_time
        )

    async def pause_task(self, task_id: str, store: str | None = None) -> Task:
        """Stop a task from firing until `resume_task`."""
        return await self.update_task(task_id, store, next_run_time=None)

    async def resume_task(self, task_id: str, store: str | None = None) -> Task | None:
        """Let a paused task fire again from now; a finished trigger deletes the task."""
        task = await self._find(task_id, store)
        next_run_time = task.trigger.get_next_trigger_time(self.timezone, None, utcnow())
        if next_run_time is None:
            await self.delete_task(task_id, task.store)
            return None
        return await self.update_task(task_id, task.store, next_run_time=next_run_time)

    async def run_task(self, task_id: str, store: str | None = None) -> Reference:
        """Run a task once now, outside its schedule; returns a reference to the job."""
        task = await self._find(task_id, store)
        now = utcnow()
        return (await self.push_many([task.job_for(now, now)], task.store))[0]

    async def delete_task(self, task_id: str, store: str | None = None) -> None:
        """Delete a task; `TaskLookupError` if there is none."""
        task = await self._find(task_id, store)
        index = self._pending_index(task_id, store)
        if index is not None:
            del self._pending_tasks[index]
        else:
            await self.store(task.store).delete_task(task_id)
        self._task_event(constants.TASK_REMOVED, task_id, task.store)

    async def remove_all_tasks(self, store: str | None = None) -> None:
        """Delete every task (of one store, or of all)."""
        names = [store] if store is not None else list(self.stores)
        for name in names:
            await self.store(name).remove_all_tasks()
            self._task_event(constants.ALL_TASKS_REMOVED, None, name)
        self._pending_tasks = [
            entry for entry in self._pending_tasks if store not in (None, entry[0]["store"])
        ]

    async def preview_task_runs(
        self, task_id: str, count: int = 10, store: str | None = None
    ) -> list[datetime]:
        """The next `count` fire times of a task from its next run time (empty if paused)."""
        task = await self._find(task_id, store)
        if task.next_run_time is None:
            return []
        return preview_fire_times(task.trigger, self.timezone, count, now=task.next_run_time)


def _log_refused(task_id: str, stored: asyncio.Task[Task]) -> None:
    """Log the error of a task a decorator could not store (nobody awaits it)."""
    if not stored.cancelled() and (error := stored.exception()) is not None:
        logger.error(
            "could not add the task %r of a @scheduler.task decorator: %s",
            task_id, error, exc_info=error,
        )  # fmt: skip


def _pending_task(values: dict[str, Any]) -> Task:
    """The task that `values`, added before `start()`, describe (paused until stored)."""
    return Task.model_validate({"next_run_time": None, **values})
