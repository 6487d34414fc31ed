"""`asyncz-queue worker APP`: load a scheduler by name and run it until told to stop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import sys
import time
from collections import Counter
from typing import TextIO

from asyncz_queue._cli_common import CommandError, format_duration, one_line
from asyncz_queue.events import JobEvent, SchedulerEvent, constants
from asyncz_queue.exceptions import JobInterruptedError, SchedulerNotRunningError
from asyncz_queue.schedulers import AsyncIOScheduler

#: Seconds to wait, after the grace period, for interrupted jobs to be recorded.
AFTER_GRACE = 10.0
_COUNTED = {
    constants.JOB_STARTED: "started",
    constants.JOB_SUCCEEDED: "succeeded",
    constants.JOB_FAILED: "failed",
    constants.JOB_RETRYING: "retrying",
}


def load_scheduler(spec: str) -> AsyncIOScheduler:
    """The `AsyncIOScheduler` named by `package.module:attribute` (the attribute may be dotted).

    The current directory is importable, as with `python -m`. Raises `CommandError` with one
    line saying what was wrong: the form, the import, the attribute or its type.
    """
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise CommandError(f"APP must look like 'package.module:attribute', got {spec!r}", 2)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise CommandError(
                f"cannot import {module_name!r}: no module named {exc.name!r}", 2
            ) from None
        raise CommandError(f"importing {module_name!r} failed: {one_line(exc)}") from None
    except Exception as exc:
        raise CommandError(f"importing {module_name!r} failed: {one_line(exc)}") from None
    found: object = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise CommandError(f"{module_name!r} has no attribute {attribute!r}", 2) from None
    if not isinstance(found, AsyncIOScheduler):
        kind = f"class {found.__name__}" if isinstance(found, type) else type(found).__name__
        raise CommandError(f"{spec!r} is a {kind}, not an AsyncIOScheduler", 2)
    return found


class WorkerRun:
    """One run of a worker process: start, serve until a signal, stop within a grace period.

    The first SIGINT/SIGTERM starts a graceful shutdown: no new job starts and running jobs
    get `grace` seconds to finish, after which they are interrupted and put back to run
    again. A second signal exits at once (status 128 + signal number). `progress`, when
    given, receives a one-line display that is rewritten twice a second.
    """

    def __init__(
        self, scheduler: AsyncIOScheduler, grace: float, progress: TextIO | None = None
    ) -> None:
        self.scheduler = scheduler
        self.grace = grace
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._signalled = 0
        self._started_at = time.monotonic()

    async def run(self) -> int:
        """Serve until stopped; returns the exit status."""
        scheduler = self.scheduler
        scheduler.add_listener(self._on_event, mask=constants.SCHEDULER_SHUTDOWN | _mask())
        try:
            await scheduler.start()
        except Exception as exc:
            raise CommandError(f"the scheduler could not start: {one_line(exc)}") from None
        loop = asyncio.get_running_loop()
        installed = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._on_signal, signum)
                installed.append(signum)
        self.say(f"worker {scheduler.identity} started ({_describe(scheduler)}); stop with Ctrl+C")
        display = asyncio.create_task(self._display()) if self.progress else None
        try:
            await self._stop.wait()
            return await self._shut_down()
        finally:
            if display is not None:
                display.cancel()
            for signum in installed:
                loop.remove_signal_handler(signum)
            scheduler.remove_listener(self._on_event)

    def say(self, message: str) -> None:
        """Write a line on stderr (clearing the progress display first)."""
        if self.progress is not None:
            self.progress.write("\r\x1b[K")
            self.progress.flush()
        print(f"asyncz-queue: {message}", file=sys.stderr, flush=True)

    def running_jobs(self) -> list[str]:
        """Ids of the jobs running in this process now."""
        return [job for ex in self.scheduler.executors.values() for job in ex.running_jobs]

    def _on_event(self, event: SchedulerEvent) -> None:
        if event.code == constants.SCHEDULER_SHUTDOWN:
            self._stop.set()  # stopped from inside (a job or the app called shutdown())
        elif isinstance(event, JobEvent) and event.scheduler_identity == self.scheduler.identity:
            self.counts[_COUNTED[event.code]] += 1

    def _on_signal(self, signum: int) -> None:
        self._signalled += 1
        name = signal.Signals(signum).name
        if self._signalled == 1:
            self.say(f"{name} received: shutting down")
            self._stop.set()
            return
        self.say(f"{name} received again: exiting now; unfinished jobs run again later")
        sys.stdout.flush()
        os._exit(128 + signum)

    async def _shut_down(self) -> int:
        """Shut the scheduler down, interrupting jobs still running after the grace period."""
        running = len(self.running_jobs())
        if running:
            self.say(
                f"waiting up to {self.grace:g} s for {running} running job(s) to finish; "
                "send the signal again to exit at once"
            )
        stopping = asyncio.create_task(self._stop_scheduler())
        done, _ = await asyncio.wait({stopping}, timeout=self.grace)
        if not done:
            interrupted = self._interrupt()
            self.say(
                f"grace period of {self.grace:g} s is over: interrupted {interrupted} job(s); "
                "they will run again"
            )
            done, _ = await asyncio.wait({stopping}, timeout=AFTER_GRACE)
            if not done:
                left = len(self.running_jobs())
                self.say(f"{left} job(s) did not stop; exiting without them")
                sys.stdout.flush()
                os._exit(1)  # threads that cannot be interrupted would keep us alive
        stopping.result()
        done_count = self.counts["succeeded"] + self.counts["failed"]
        self.say(f"worker stopped after {_uptime(self._started_at)}; {done_count} job(s) done")
        return 0

    async def _stop_scheduler(self) -> None:
        scheduler = self.scheduler
        try:
            await scheduler.shutdown(wait=True)
            return
        except SchedulerNotRunningError:
            pass  # stopped, or being stopped, from elsewhere (a job called shutdown())
        while scheduler.running:
            await asyncio.sleep(0.05)

    def _interrupt(self) -> int:
        count = 0
        for executor in self.scheduler.executors.values():
            for job_id in executor.running_jobs:
                count += executor.stop_job(job_id, JobInterruptedError)
        return count

    async def _display(self) -> None:
        assert self.progress is not None
        while True:
            counts = self.counts
            line = (
                f"{self.scheduler.identity}  running {len(self.running_jobs())}  "
                f"succeeded {counts['succeeded']}  failed {counts['failed']}  "
                f"retrying {counts['retrying']}  up {_uptime(self._started_at)}"
            )
            if self.scheduler.paused:
                line += "  (paused)"
            self.progress.write("\r\x1b[K" + line)
            self.progress.flush()
            await asyncio.sleep(0.5)


def _mask() -> int:
    mask = 0
    for code in _COUNTED:
        mask |= code
    return mask


def _uptime(since: float) -> str:
    return format_duration(time.monotonic() - since)


def _describe(scheduler: AsyncIOScheduler) -> str:
    stores = ", ".join(f"{name}={type(store).__name__}" for name, store in scheduler.stores.items())
    executors = ", ".join(
        f"{name}={type(executor).__name__}" for name, executor in scheduler.executors.items()
    )
    return f"role {scheduler.role}; stores {stores}; executors {executors}"


def run_worker(spec: str, grace: float, progress: bool | None = None) -> int:
    """Run the scheduler named by `spec` as a worker process; returns the exit status.

    `progress=None` shows the progress display only when stdout is a terminal.
    """
    scheduler = load_scheduler(spec)
    if progress is None:
        progress = sys.stdout.isatty()
    worker = WorkerRun(scheduler, grace, sys.stdout if progress else None)
    return asyncio.run(worker.run())
