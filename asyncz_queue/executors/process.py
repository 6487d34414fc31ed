"""`ProcessPoolExecutor` (alias `processpool`): each job in a child process, one at a time.

Every child has its own socket to the event loop and runs one job at a time, so a child
that dies (segfault, `os._exit`, the out-of-memory killer) fails only the attempt it was
running, and is replaced. Children start with `forkserver` (or `spawn`), never `fork`: they
share nothing with the parent — no database connection, no event loop, no lock. A job past
its timeout, a cancelled job and a job interrupted by `shutdown(wait=False)` have their
child killed (SIGKILL) and replaced.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import multiprocessing
import os
import pickle
import signal
import socket
import struct
from collections import deque
from collections.abc import Awaitable
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar

from asyncz_queue.exceptions import SerializationError
from asyncz_queue.executors.base import BaseExecutor, RemoteJobError, resolve_callable
from asyncz_queue.jobs import Job, JobError, set_current_job

_HEADER = struct.Struct("!Q")  # every message: its length, then a pickle
_START_METHODS = ("forkserver", "spawn")
#: How long a child that just ended may still deliver the reply it wrote before ending.
_REPLY_GRACE = 1.0
#: How long a retired child gets to exit on its own before it is killed.
_EXIT_GRACE = 5.0

#: A child's reply: (succeeded, result or JobError, whether the child must be replaced).
Reply = tuple[bool, Any, bool]


class WorkerDiedError(RuntimeError):
    """The child process running the job ended before it replied (crash, kill, `os._exit`)."""


# ---- the child's side ------------------------------------------------------------------


def _child_main(sock: socket.socket, memory_limit: int | None) -> None:
    """Serve jobs from `sock` one at a time until the parent closes it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent to handle
    if memory_limit is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    stream = sock.makefile("rwb")
    while True:
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the parent closed the connection: retire quietly
        payload = stream.read(_HEADER.unpack(header)[0])
        reply = _serve(payload, memory_limit)
        stream.write(_HEADER.pack(len(reply)) + reply)
        stream.flush()


def _serve(payload: bytes, memory_limit: int | None) -> bytes:
    """Run the pickled job in `payload`; return the pickled `Reply`."""
    try:
        job: Job = pickle.loads(payload)
        set_current_job(job)
        func, is_coroutine = resolve_callable(job.fn)
        result = func(*job.args, **job.kwargs)
        if is_coroutine or (result is not None and inspect.isawaitable(result)):
            result = asyncio.run(_awaited(result))
    except BaseException as exc:  # SystemExit from a job must not end the child either
        error = JobError.from_exception(exc)
        out_of_memory = isinstance(exc, MemoryError)
        if out_of_memory and memory_limit is not None:
            error = dataclasses.replace(
                error,
                message=f"the job ran out of memory: its worker process is limited to "
                f"memory_limit={memory_limit} bytes of address space (it will be replaced)",
            )
        return pickle.dumps((False, error, out_of_memory), pickle.HIGHEST_PROTOCOL)
    finally:
        set_current_job(None)
    try:
        return pickle.dumps((True, result, False), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        error = JobError.from_exception(
            SerializationError(
                f"the result of type {type(result).__qualname__} cannot be sent back from "
                f"the worker process (it must be picklable): {exc}"
            )
        )
        return pickle.dumps((False, error, False), pickle.HIGHEST_PROTOCOL)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


# ---- the parent's side -----------------------------------------------------------------


class _Child:
    """One child process and its connection, seen from the event loop."""

    def __init__(
        self, process: BaseProcess, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.process = process
        self.pid: int = process.pid or 0
        self.reader = reader
        self.writer = writer
        self.jobs_done = 0
        self._loop = asyncio.get_running_loop()
        #: Resolves when the process has ended (its sentinel turned readable).
        self.exited: asyncio.Future[None] = self._loop.create_future()
        self._loop.add_reader(process.sentinel, self._on_exit)

    @classmethod
    async def spawn(cls, context: BaseContext, memory_limit: int | None, name: str) -> _Child:
        """Start a child process and connect to it."""
        parent_sock, child_sock = socket.socketpair()
        process = context.Process(  # type: ignore[attr-defined]
            target=_child_main, args=(child_sock, memory_limit), name=name, daemon=True
        )
        try:
            # Starting the forkserver the first time takes a while: keep it off the loop.
            await asyncio.to_thread(process.start)
            reader, writer = await asyncio.open_connection(sock=parent_sock)
        except BaseException:
            parent_sock.close()
            if process.pid is not None:
                process.kill()
            raise
        finally:
            child_sock.close()  # the child holds its own copy; ours would hide its EOF
        return cls(process, reader, writer)

    @property
    def alive(self) -> bool:
        """Whether the process has not ended."""
        return not self.exited.done()

    def _on_exit(self) -> None:
        self._loop.remove_reader(self.process.sentinel)
        if not self.exited.done():
            self.exited.set_result(None)

    async def exchange(self, payload: bytes) -> bytes:
        """Send one job and return the child's reply; `WorkerDiedError` if it ends first."""
        reply = asyncio.ensure_future(self._send_and_receive(payload))
        try:
            await asyncio.wait((reply, self.exited), return_when=asyncio.FIRST_COMPLETED)
            if not reply.done():  # the process ended; a reply it wrote first is still readable
                await asyncio.wait((reply,), timeout=_REPLY_GRACE)
            if reply.done() and not reply.cancelled() and reply.exception() is None:
                return reply.result()
        finally:
            if not reply.done():
                reply.cancel()
        await asyncio.wait((self.exited,), timeout=_REPLY_GRACE)
        raise WorkerDiedError(self.death_message())

    async def _send_and_receive(self, payload: bytes) -> bytes:
        self.writer.write(_HEADER.pack(len(payload)) + payload)
        await self.writer.drain()
        (size,) = _HEADER.unpack(await self.reader.readexactly(_HEADER.size))
        return await self.reader.readexactly(size)

    def death_message(self) -> str:
        """Why the child ended, for the error of the attempt it was running."""
        code = self.process.exitcode if self.exited.done() else None
        if code is None:
            how = "closed its connection"
        elif code >= 0:
            how = f"exited with code {code}"
        else:
            how = f"was killed by signal {_signal_name(-code)}"
            if -code == signal.SIGSEGV:
                how += " (a crash in native code)"
            elif -code == signal.SIGKILL:
                how += " (from outside, often the kernel's out-of-memory killer)"
        return f"the worker process (pid {self.pid}) running the job {how}; it will be replaced"

    def kill(self) -> None:
        """Kill the process at once (SIGKILL) unless it has already ended."""
        if self.alive:
            self.process.kill()

    async def close(self, kill: bool = False) -> None:
        """End the process (politely unless `kill`) and release its resources."""
        self.writer.close()  # the child reads EOF and returns
        if kill:
            self.kill()
        await asyncio.wait((self.exited,), timeout=_EXIT_GRACE)
        if self.alive:
            self.kill()
            await asyncio.wait((self.exited,), timeout=_EXIT_GRACE)
        if not self.alive:
            self.process.join(0)
            self.process.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _check_limit(name: str, value: int | None, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"option {name!r} must be an integer >= {minimum}, got {value!r}")


class ProcessPoolExecutor(BaseExecutor):
    """Runs each job in one of up to `max_workers` child processes (default: CPU count).

    Options: `max_workers`; `max_jobs_per_worker` — replace a child after that many jobs;
    `timeout` — default seconds per attempt (`Job.timeout` wins), enforced by killing the
    child; `memory_limit` — bytes of address space per child (`RLIMIT_AS`, POSIX only; the
    interpreter and its imports count too, so leave room for them), an allocation past it
    raises `MemoryError` in the job and the child is replaced; `start_method` —
    `"forkserver"` (default where available) or `"spawn"`.

    Arguments and results cross the process boundary by pickle. Coroutine functions run with
    `asyncio.run` in the child. `current_job()` works inside the child.
    """

    default_max_workers: ClassVar[int] = os.cpu_count() or 1
    enforces_timeout: ClassVar[bool] = True

    def __init__(
        self,
        *,
        max_workers: int | None = None,
        timeout: float | None = None,
        max_jobs_per_worker: int | None = None,
        memory_limit: int | None = None,
        start_method: str | None = None,
    ) -> None:
        super().__init__(max_workers=max_workers, timeout=timeout)
        _check_limit("max_jobs_per_worker", max_jobs_per_worker, 1)
        _check_limit("memory_limit", memory_limit, 1 << 20)
        if memory_limit is not None and os.name != "posix":
            raise ValueError("option 'memory_limit' needs a POSIX system (RLIMIT_AS)")
        available = multiprocessing.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in available else "spawn"
        allowed = [method for method in _START_METHODS if method in available]
        if start_method not in allowed:
            raise ValueError(
                f"option 'start_method' must be one of {allowed}, got {start_method!r} "
                "('fork' is refused: a forked child shares the parent's connections and loop)"
            )
        self.max_jobs_per_worker = max_jobs_per_worker
        self.memory_limit = memory_limit
        self.start_method = start_method
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Children fork from a server that has imported us once, so they start fast.
            self._context.set_forkserver_preload(["__main__", __name__])
        self._slots = asyncio.Semaphore(self.max_workers)
        self._idle: deque[_Child] = deque()
        self._children: set[_Child] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live children, busy or idle."""
        return sorted(child.pid for child in self._children if child.alive)

    async def start(self) -> None:
        """Start the children now, so the first jobs do not wait for them."""
        self._closing = False
        missing = self.max_workers - len(self._children)
        children = await asyncio.gather(*(self._spawn() for _ in range(missing)))
        self._idle.extend(children)

    async def shutdown(self, wait: bool = True) -> None:
        """Stop: with `wait`, let running jobs finish; without, kill their children.

        Idle children are asked to exit (and killed if they do not within a few seconds).
        """
        await super().shutdown(wait)
        self._closing = True
        for child in self._children:
            self._retire(child, kill=False, forget=False)
        self._children.clear()
        self._idle.clear()
        while self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)

    async def run_job(self, job: Job) -> Any:
        try:
            payload = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise SerializationError(
                f"the job cannot be sent to a worker process (its arguments must be "
                f"picklable): {exc}"
            ) from None
        timeout = job.timeout if job.timeout is not None else self.timeout
        child = await self._checkout()
        replace = True  # unless the child replies normally
        try:
            deadline = asyncio.timeout(timeout)
            try:
                async with deadline:
                    raw = await child.exchange(payload)
            except TimeoutError:
                raise TimeoutError(
                    f"the job did not finish within its timeout of {timeout} s; its worker "
                    f"process (pid {child.pid}) was killed and will be replaced"
                ) from None
            child.jobs_done += 1
            replace = False
            try:
                ok, value, replace = pickle.loads(raw)
            except Exception as exc:  # pickled in the child, but cannot be rebuilt here
                raise SerializationError(
                    f"the outcome of the job came back from its worker process but cannot "
                    f"be unpickled in this one: {type(exc).__name__}: {exc}"
                ) from None
        finally:
            self._checkin(child, replace)
        if ok:
            return value
        raise RemoteJobError(value)

    # ---- children ------------------------------------------------------------------

    async def _checkout(self) -> _Child:
        """An idle child (or a new one), holding one of the `max_workers` slots."""
        await self._slots.acquire()
        try:
            while self._idle:
                child = self._idle.pop()  # the most recently used one is warm
                if child.alive:
                    return child
                self._retire(child, kill=False)
            return await self._spawn()
        except BaseException:
            self._slots.release()
            raise

    def _checkin(self, child: _Child, replace: bool) -> None:
        """Give the slot back; keep `child` for the next job unless it has to go."""
        recycled = self.max_jobs_per_worker is not None and (
            child.jobs_done >= self.max_jobs_per_worker
        )
        too_many = len(self._children) > self.max_workers
        if replace or not child.alive:
            self._retire(child, kill=True)
        elif recycled or too_many or self._closing:
            self._retire(child, kill=False)
        else:
            self._idle.append(child)
        self._slots.release()

    async def _spawn(self) -> _Child:
        name = f"asyncz_queue-{self.name}"
        spawning = asyncio.ensure_future(_Child.spawn(self._context, self.memory_limit, name))
        try:
            child = await asyncio.shield(spawning)
        except asyncio.CancelledError:
            spawning.add_done_callback(self._adopt)  # keep track of it once it is up
            raise
        self._children.add(child)
        return child

    def _adopt(self, spawning: asyncio.Future[_Child]) -> None:
        if spawning.cancelled() or spawning.exception() is not None:
            return
        child = spawning.result()
        self._children.add(child)
        if self._closing:
            self._retire(child, kill=False)
        else:
            self._idle.append(child)

    def _retire(self, child: _Child, kill: bool, forget: bool = True) -> None:
        """End `child` in the background (a killed child first stops what it runs)."""
        if forget:
            self._children.discard(child)
        if kill:
            child.kill()
        closer = asyncio.get_running_loop().create_task(child.close(kill=kill))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)
