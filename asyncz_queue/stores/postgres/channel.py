"""LISTEN/NOTIFY: one channel per schema that wakes loops and carries events between processes.

Messages are short text payloads: `t:<sender>` (tasks changed), `j:<sender>` (jobs became
available), `h:<length>:<worker>:<job row>` (a job handed over to that worker: see
`ADD_NEW_JOB`), `c:<sender>:<job id>` (stop this job), `e:<sender>:<codes>:[<event dict>, ...]`
(events) and `r:<sender>:<code>:{"i": identity, "t": timestamp, "j": [<job row>, ...]}`
(events of one code about jobs, one row of `JOB_ROW` values each). `<codes>` is the bitwise
OR of the event codes inside. A push sends either its `JOB_PUSHED` events, which wake the
workers that receive them, or (when not every job was inserted) a `j:`: one message, not
two, so the pushing process also reads back one message of its own instead of two. An
event message with a `q` first (`qr:`, `qe:`) is quiet: its `JOB_PUSHED` wakes nobody (the
job was handed over to a worker: nothing is left for the others to claim).

A store ignores without decoding its own messages (it delivered them locally at once) and
event messages whose codes nobody in its process wants (`BaseStore.wants_event`): every
process hears every event of every other, and most of them would be decoded only to be
dropped. It also ignores events of its own scheduler identity.

Job events are most of the traffic (a bulk push announces every job; a busy worker reports
two events per job), so they travel as rows, built straight from the jobs: about a quarter
of their size as event dicts (a push of 10,000 jobs sends 1 MB instead of 3.2), and no
event objects to build. Other events are encoded with orjson, straight from their dataclass
(about six times cheaper than `to_dict()` and `json.dumps`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import json
import logging
import operator
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import sql

from asyncz_queue.events import SchedulerEvent
from asyncz_queue.events.constants import ALL_EVENTS, JOB_PUSHED
from asyncz_queue.events.models import JOB_ROW, job_event, job_row
from asyncz_queue.exceptions import StoreUnavailableError
from asyncz_queue.jobs import Job, utcnow
from asyncz_queue.stores.base import Notification

logger = logging.getLogger("asyncz_queue.stores.postgres")
T = TypeVar("T")

#: NOTIFY refuses payloads of 8000 bytes or more; stay clear of it.
MAX_PAYLOAD = 7900
#: Digits of the largest OR of event codes (every bit of `ALL_EVENTS` set).
_CODES_WIDTH = len(str(ALL_EVENTS))
#: Fields this long (as JSON) may be cut to make an event fit.
_SMALL = 200
_MAX_BACKOFF = 5.0

TASKS = Notification("tasks")
JOBS = Notification("jobs")


def channel_name(schema: str) -> str:
    """The channel of `schema` (at most 63 bytes, the longest name Postgres keeps)."""
    name = f"asyncz_queue:{schema}"
    if len(name.encode()) <= 63:
        return name
    return "asyncz_queue:" + hashlib.sha256(schema.encode()).hexdigest()[:40]


def bound_event(payload: dict[str, Any], limit: int = MAX_PAYLOAD - 4) -> str:
    """The event as JSON of at most `limit` bytes, never failing.

    Fields too big to fit (a traceback, an exception message, a return value) share the
    room left by the small ones and are cut, with a marker; `"truncated": true` tells a
    receiver it got a shortened event. The full traceback stays in the job's row.
    """
    text = _dumps(payload)
    if len(text) <= limit:
        return text
    trimmed: dict[str, Any] = {**payload, "truncated": True}
    sizes = {key: len(_dumps(value)) for key, value in payload.items()}
    big = sorted((key for key, size in sizes.items() if size > _SMALL), key=sizes.__getitem__)
    room = limit - len(_dumps({**trimmed, **dict.fromkeys(big, "")}))
    for left, key in zip(range(len(big), 0, -1), big, strict=True):
        share = max(room // left, 0)
        trimmed[key] = _cut(payload[key], sizes[key], share)
        room -= len(_dumps(trimmed[key])) - 2
    text = _dumps(trimmed)
    if len(text) <= limit:
        return text
    core = ("kind", "code", "timestamp", "scheduler_identity", "job_id", "task_id")
    return _dumps({k: str(trimmed[k])[:200] for k in core if k in trimmed} | {"truncated": True})


def _cut(value: Any, size: int, share: int) -> Any:
    """`value` if its JSON fits in `share` bytes, else its text cut to fit, with a marker."""
    if size <= share:
        return value
    text = value if isinstance(value, str) else _dumps(value)
    keep = max(share - 48, 0)
    while True:
        cut = f"{text[:keep]}... [truncated {len(text) - keep} characters]"
        encoded = len(_dumps(cut))
        if encoded <= share or keep == 0:
            return cut
        # Escaped characters (non-ASCII, quotes) take more than one byte: shrink in step.
        keep = max(keep * share // encoded - 8, 0)


def encode_event(event: SchedulerEvent, limit: int = MAX_PAYLOAD - 4) -> bytes:
    """`event.to_dict()` as UTF-8 JSON of at most `limit` bytes, never failing (see
    `bound_event` for how an oversized event is cut)."""
    try:
        body = orjson.dumps(event, default=repr, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # what orjson cannot encode (lone surrogates, huge integers)
        body = None
    if body is not None:
        text = b'{"kind":"' + event.kind.encode() + b'",' + body[1:]
        if len(text) <= limit:
            return text
    return bound_event(event.to_dict(), limit).encode()


def pack_events(events: list[SchedulerEvent], sender: str) -> list[str]:
    """Event messages (`e:<sender>:<codes>:[...]`), each under the NOTIFY limit, holding
    every event."""
    head = b"e:" + sender.encode() + b":"
    # Room for the codes: the widest an OR of event codes can be written.
    room = MAX_PAYLOAD - len(head) - _CODES_WIDTH - 3
    encoded = [(encode_event(event, room), event.code) for event in events]
    messages: list[str] = []
    for chunk in _fill(encoded, room, lambda item: len(item[0])):
        codes = functools.reduce(operator.or_, (code for _, code in chunk))
        body = b"%d:[" % codes + b",".join(text for text, _ in chunk) + b"]"
        messages.append((head + body).decode())
    return messages


def pack_job_events(code: int, jobs: Sequence[Job], identity: str, sender: str) -> list[str]:
    """Messages (`r:...`, each under the NOTIFY limit) carrying the event `code` about each
    of `jobs` as it is now, from the scheduler `identity`."""
    head = b'r:%s:%d:{"i":%s,"t":%s,"j":[' % (
        sender.encode(),
        code,
        orjson.dumps(identity),
        orjson.dumps(utcnow()),
    )
    room = MAX_PAYLOAD - len(head) - 2
    # One pair at a time: a list of them all would set the garbage collector going.
    rows = ((job, _row(job, room)) for job in jobs)
    messages: list[str] = []
    # In order: runs of jobs whose rows fit, and runs of jobs sent as event dicts instead
    # (cut to fit if they must be).
    for fits, run in itertools.groupby(rows, key=lambda pair: pair[1] is not None):
        if fits:
            for chunk in _fill((row for _, row in run), room, len):  # type: ignore[misc]
                messages.append((head + b",".join(chunk) + b"]}").decode())
        else:
            messages += pack_events([job_event(code, job, identity) for job, _ in run], sender)
    return messages


def _row(job: Job, room: int) -> bytes | None:
    """`job_row(job)` as JSON when it fits in `room` bytes; else None."""
    try:
        row = orjson.dumps(job_row(job), default=repr)
    except TypeError:  # what orjson cannot encode (lone surrogates, huge integers)
        return None
    return row if len(row) <= room else None


def _fill(items: Iterable[T], room: int, size: Callable[[T], int]) -> Iterator[list[T]]:
    """`items` in order, in runs whose sizes, one separator each, fit in `room` (an item
    too big alone still makes a run of its own)."""
    chunk: list[T] = []
    used = 0
    for item in items:
        length = size(item) + 1
        if chunk and used + length > room:
            yield chunk
            chunk, used = [], 0
        chunk.append(item)
        used += length
    if chunk:
        yield chunk


def _unpack_job_events(code: int, body: str) -> list[dict[str, Any]]:
    """The event dicts of an `r:` message's body, all of event `code`."""
    data = _loads(body)
    common = {
        "kind": "job",
        "code": code,
        "timestamp": data["t"],
        "scheduler_identity": data["i"],
    }
    return [{**common, **dict(zip(JOB_ROW, row, strict=True))} for row in data["j"]]


def _loads(text: str) -> Any:
    """JSON text as Python values; what orjson refuses (lone surrogates, which the standard
    library writes for undecodable text) is read by the standard library."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=repr)


class Outbox:
    """Sends events to the channel in batches: those published in the same moment share
    one statement, packed into as few messages as fit."""

    def __init__(self, send: Callable[[list[str]], Awaitable[None]], sender: str) -> None:
        self._send = send
        self._sender = sender
        #: Whose events these are (the store's scheduler, known once it starts).
        self.identity = ""
        # Events, and (code, job) pairs for job events sent as rows.
        self._queue: list[SchedulerEvent | tuple[int, Job]] = []
        self._sending: asyncio.Task[None] | None = None

    def post(self, event: SchedulerEvent) -> None:
        """Queue `event` for the next batch (sent by a background task)."""
        self._queue.append(event)
        self._schedule()

    def post_job(self, code: int, job: Job) -> None:
        """Queue the event `code` about `job` as it is now for the next batch."""
        self._queue.append((code, job))
        self._schedule()

    def _schedule(self) -> None:
        if self._sending is None or self._sending.done():
            self._sending = asyncio.get_running_loop().create_task(self._flush())

    async def drain(self) -> None:
        """Wait until everything queued was sent or dropped."""
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await self._sending

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the events of the same moment join this batch
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._send(self._pack(batch))
            except Exception as exc:
                logger.warning("could not send %d event(s) to other processes: %s", len(batch), exc)

    def _pack(self, batch: list[SchedulerEvent | tuple[int, Job]]) -> list[str]:
        """Messages for `batch`, in its order: each run of job events of one code as rows,
        each run of other events as event dicts."""
        messages: list[str] = []
        for key, run in itertools.groupby(
            batch, key=lambda item: item[0] if isinstance(item, tuple) else None
        ):
            if key is None:
                messages += pack_events(list(run), self._sender)  # type: ignore[arg-type]
            else:
                jobs = [job for _, job in run]  # type: ignore[misc]
                messages += pack_job_events(key, jobs, self.identity, self._sender)
        return messages


class Listener:
    """Listens on the channel over one dedicated connection (not from the pool).

    Reconnects with backoff when the connection is lost and then wakes both loops and calls
    `reconnected`, since notifications sent while it was away are gone. Checks the connection every
    `health_interval` seconds, so a silently dead one is noticed.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        channel: str,
        sender: str,
        identity: str,
        deliver: Callable[[Notification], None],
        health_interval: float,
        wants: Callable[[int], bool] = lambda codes: True,
        reconnected: Callable[[], None] = lambda: None,
    ) -> None:
        self._connect = connect
        self._listen = sql.SQL("LISTEN {}").format(sql.Identifier(channel))
        self._sender = sender
        self._identity = identity
        #: How a hand-over addressed to this process's worker begins (after `h:`).
        self._handoff_to = f"{len(identity)}:{identity}:"
        self._deliver = deliver
        self._wants = wants
        self._reconnected = reconnected
        self._health_interval = health_interval
        self._task: asyncio.Task[None] | None = None
        #: Set while the listen connection is up (for tests and health checks).
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Connect and LISTEN before returning; `StoreUnavailableError` when that fails."""
        conn = await self._open()
        self._task = asyncio.get_running_loop().create_task(self._run(conn))

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _open(self) -> psycopg.AsyncConnection[Any]:
        conn: psycopg.AsyncConnection[Any] = await self._connect()
        try:
            await conn.execute(self._listen)
        except BaseException:
            await conn.close()
            raise
        self.connected.set()
        return conn

    async def _run(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        backoff = 0.05
        try:
            while True:
                try:
                    if conn is None:
                        conn = await self._open()
                        logger.info("listening for notifications again")
                        self._deliver(TASKS)
                        self._deliver(JOBS)
                        self._reconnected()
                        backoff = 0.05
                    await self._receive(conn)
                except (psycopg.Error, OSError, StoreUnavailableError, TimeoutError) as exc:
                    self.connected.clear()
                    if conn is not None:
                        await _close_quietly(conn)
                        conn = None
                    logger.warning(
                        "lost the notification connection (%s); reconnecting in %.2f s",
                        exc,
                        backoff,
                    )
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _MAX_BACKOFF)
        finally:
            self.connected.clear()
            if conn is not None:
                await _close_quietly(conn)

    async def _receive(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while True:
            async for notify in conn.notifies(timeout=self._health_interval):
                self.dispatch(notify.payload)
            await conn.execute("SELECT 1")  # a silently dead connection raises here

    def dispatch(self, message: str) -> None:
        """Turn one channel message into notifications for this process."""
        kind, _, rest = message.partition(":")
        quiet = kind == "qr" or kind == "qe"
        if quiet:
            kind = kind[1]
        if kind == "j" or kind == "t":
            if rest != self._sender:
                self._deliver(JOBS if kind == "j" else TASKS)
        elif kind == "h":
            if rest.startswith(self._handoff_to):
                body = rest[len(self._handoff_to) :]
                self._deliver(Notification("handoff", {"job": body}))
        elif kind == "c":
            sender, _, job_id = rest.partition(":")
            if sender != self._sender and job_id:
                self._deliver(Notification("cancel", {"job_id": job_id}))
        elif kind == "e" or kind == "r":
            sender, _, rest = rest.partition(":")
            if sender == self._sender:
                return
            header, _, body = rest.partition(":")
            try:
                codes = int(header)
                if codes & JOB_PUSHED and not quiet:
                    self._deliver(JOBS)  # jobs were pushed: the announcement is the wake-up
                if not self._wants(codes):
                    return
                events = _loads(body) if kind == "e" else _unpack_job_events(codes, body)
            except (ValueError, KeyError, TypeError):
                logger.warning("ignored a malformed event message on the channel")
                return
            for event in events:
                if isinstance(event, dict) and event.get("scheduler_identity") != self._identity:
                    self._deliver(Notification("event", event))


async def _close_quietly(conn: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):
        await conn.close()
