"""Deliver events to listeners and subscribers in this process."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

from asyncz_queue.events.constants import ALL_EVENTS
from asyncz_queue.events.models import SchedulerEvent

logger = logging.getLogger("asyncz_queue.events")

Listener = Callable[[SchedulerEvent], Any]

#: A subscriber that falls this far behind loses its oldest events (and a warning is logged).
SUBSCRIBER_BUFFER = 10_000


#: Seconds a shutdown waits for async listeners still running before it cancels them.
LISTENER_GRACE = 5.0


def check_mask(mask: Any) -> int:
    """`mask` if it selects some events and only known ones (an OR of event codes from
    `asyncz_queue.events.constants`); else `ValueError` (or `TypeError`) saying why: a
    listener with another mask would never be called, or be called for nothing real."""
    if isinstance(mask, bool) or not isinstance(mask, int):
        raise TypeError(
            f"an event mask is an int (an OR of event codes), got {type(mask).__name__}"
        )
    hint = "combine codes from asyncz_queue.events.constants (ALL_EVENTS: every event)"
    if mask <= 0:
        raise ValueError(f"event mask {mask} selects no event: {hint}")
    if mask & ~ALL_EVENTS:
        raise ValueError(f"event mask {mask} has bits that are no event code: {hint}")
    return mask


class Subscription:
    """What `EventBroker.subscribe` returns: an async iterator over the events in `mask`.

    It listens from the moment it is made, so the events published before its first
    `__anext__` are kept for it too, and ends once the broker closes (after the events
    queued by then) or when `aclose()` is called (or it is dropped).
    """

    __slots__ = ("__weakref__", "_broker", "mask", "queue")

    def __init__(self, broker: EventBroker, mask: int) -> None:
        self.mask = mask
        self.queue: asyncio.Queue[SchedulerEvent | None] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._broker: EventBroker | None = broker
        broker._subscribed(self, True)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> SchedulerEvent:
        if self._broker is not None:
            event = await self.queue.get()
            if event is not None:
                return event
            self._end()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop listening (the iteration ends)."""
        self._end()

    def __del__(self) -> None:
        # Dropped by a consumer that stopped iterating (a `break`): stop queueing for it.
        # RuntimeError: no loop runs any more to tell the stores that nobody listens.
        with contextlib.suppress(RuntimeError):
            self._end()

    def _end(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            broker._subscribed(self, False)

    def put(self, event: SchedulerEvent | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            logger.warning(
                "event subscriber is %d events behind; dropped the oldest", SUBSCRIBER_BUFFER
            )
        self.queue.put_nowait(event)


class EventBroker:
    """Calls listeners (plain or async) and feeds `subscribe()` iterators.

    A listener that raises is logged and never stops delivery to the others.
    """

    def __init__(self) -> None:
        self._listeners: list[tuple[Listener, int, bool]] = []
        # Weak: a subscription its consumer dropped (a `break`) ends with it (`__del__`).
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._pending: set[asyncio.Task[Any]] = set()
        self._mask = 0
        #: Called (without arguments) when `mask` changes.
        self.on_mask_change: Callable[[], None] | None = None

    @property
    def mask(self) -> int:
        """The codes some listener or subscriber wants (an OR of event codes; 0: none)."""
        return self._mask

    def _recompute_mask(self) -> None:
        mask = 0
        for _, listener_mask, _ in self._listeners:
            mask |= listener_mask
        for subscription in list(self._subscriptions):  # one may end (GC) while we loop
            mask |= subscription.mask
        if mask != self._mask:
            self._mask = mask
            if self.on_mask_change is not None:
                self.on_mask_change()

    def wants(self, code: int) -> bool:
        """Whether anyone listens for `code` (lets callers skip building unwanted events)."""
        return bool(self._mask & code)

    def add_listener(self, callback: Listener, mask: int = ALL_EVENTS) -> None:
        """Call `callback(event)` for every event whose code is in `mask`.

        Raises `TypeError` when `callback` is not callable and (see `check_mask`) for a
        mask that selects no known event.
        """
        if not callable(callback):
            raise TypeError(f"an event listener must be callable, got {callback!r}")
        check_mask(mask)
        is_async = inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
            getattr(callback, "__call__", None)  # noqa: B004 - async callable objects
        )
        self._listeners.append((callback, mask, is_async))
        self._recompute_mask()

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling `callback` (no error when it was not added)."""
        self._listeners = [entry for entry in self._listeners if entry[0] != callback]
        self._recompute_mask()

    def subscribe(self, mask: int = ALL_EVENTS) -> Subscription:
        """Every event whose code is in `mask` from now until the broker is closed."""
        return Subscription(self, mask)

    def _subscribed(self, subscription: Subscription, listening: bool) -> None:
        if listening:
            self._subscriptions.add(subscription)
        else:
            self._subscriptions.discard(subscription)
        self._recompute_mask()

    def publish(self, event: SchedulerEvent) -> None:
        """Deliver `event` now to sync listeners and subscribers; schedule async listeners."""
        code = event.code
        if not self._mask & code:
            return
        for callback, mask, is_async in self._listeners:
            if not mask & code:
                continue
            if is_async:
                task = asyncio.get_running_loop().create_task(
                    self._await(callback, event), name=f"listener {callback!r} on {event.name}"
                )
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                continue
            try:
                result = callback(event)
            except Exception:
                logger.exception("event listener %r raised on %s", callback, event.name)
                continue
            if result is not None and inspect.isawaitable(result):
                task = asyncio.ensure_future(self._await_result(callback, event, result))
                task.set_name(f"listener {callback!r} on {event.name}")
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
        for subscription in list(self._subscriptions):  # one may end (GC) while we loop
            if subscription.mask & code:
                subscription.put(event)

    async def _await(self, callback: Listener, event: SchedulerEvent) -> None:
        await self._await_result(callback, event, None)

    async def _await_result(self, callback: Listener, event: SchedulerEvent, result: Any) -> None:
        try:
            await (result if result is not None else callback(event))
        except Exception:
            logger.exception("event listener %r raised on %s", callback, event.name)

    async def drain(self) -> None:
        """Wait for async listeners still running, at most `LISTENER_GRACE` seconds; then
        cancel the rest (a listener that never returns must not hold up a shutdown) and log
        which they were."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LISTENER_GRACE
        me = asyncio.current_task()  # a listener that shuts the scheduler down waits for others

        def others() -> set[asyncio.Task[Any]]:
            return {task for task in self._pending if task is not me}

        while (pending := others()) and (left := deadline - loop.time()) > 0:
            await asyncio.wait(pending, timeout=left)
        stuck = list(others())
        if not stuck:
            return
        logger.warning(
            "cancelled %d event listener call(s) still running after a wait of %.1f s: %s",
            len(stuck), LISTENER_GRACE, ", ".join(sorted(task.get_name() for task in stuck)),
        )  # fmt: skip
        for task in stuck:
            task.cancel()
        await asyncio.gather(*stuck, return_exceptions=True)

    def close(self) -> None:
        """End every `subscribe()` iterator after the events already queued."""
        for subscription in list(self._subscriptions):  # one may end (GC) while we loop
            subscription.put(None)
