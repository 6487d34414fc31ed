"""Run a scheduler for the lifetime of an ASGI app (Starlette, FastAPI, Lilya, Esmerald, ...).

`wrap_asgi(scheduler, app)` (also `scheduler.asgi(app)`) returns an ASGI app that starts the
scheduler on lifespan startup and shuts it down on lifespan shutdown; every other scope goes
straight to the wrapped app.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncz_queue.schedulers.asyncio import AsyncIOScheduler

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["SchedulerLifespan", "wrap_asgi"]


def wrap_asgi(
    scheduler: AsyncIOScheduler,
    app: ASGIApp | None = None,
    handle_lifespan: bool = False,
    wait: bool = True,
) -> Any:
    """Wrap `app` so that its lifespan starts and stops `scheduler`.

    Args:
        scheduler: the scheduler to run while the app is served.
        app: the ASGI app; when None, a decorator that wraps the app it is given.
        handle_lifespan: answer the lifespan protocol here instead of forwarding it, for
            apps that do not implement it; lifespan messages then never reach `app`.
        wait: passed to `scheduler.shutdown(wait=...)`: let running jobs finish first.

    A scheduler that fails to start makes the lifespan report `lifespan.startup.failed` with
    the reason, so the server refuses to start instead of serving without a scheduler.
    """
    if app is None:
        return functools.partial(wrap_asgi, scheduler, handle_lifespan=handle_lifespan, wait=wait)
    return SchedulerLifespan(scheduler, app, handle_lifespan=handle_lifespan, wait=wait)


class _StartupFailed(RuntimeError):
    """Raised from the lifespan after `lifespan.startup.failed` was sent, as Starlette does:
    test clients (Starlette's `TestClient`, asgi-lifespan) raise it at once, servers log."""


class SchedulerLifespan:
    """An ASGI app that runs `scheduler` for as long as the lifespan of `app` lasts.

    With forwarding (the default) the scheduler starts before the app's own startup code
    runs (which may therefore push jobs) and stops after the app's shutdown code is done.
    A scheduler that was already running at startup is left alone: whoever started it
    stops it.
    """

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        app: ASGIApp,
        *,
        handle_lifespan: bool = False,
        wait: bool = True,
    ) -> None:
        self.scheduler = scheduler
        self.app = app
        self.handle_lifespan = handle_lifespan
        self.wait = wait
        self._owned = False  # True while a scheduler we started runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
        elif self.handle_lifespan:
            await self._answer_lifespan(receive, send)
        else:
            await self._forward_lifespan(scope, receive, send)

    def __getattr__(self, name: str) -> Any:
        # Reach the wrapped app's attributes (`app.state`, `app.routes`, ...) through us.
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    async def _start(self) -> str | None:
        """Start the scheduler unless it runs already; the reason it failed, or None."""
        if self.scheduler.running:
            return None
        try:
            await self.scheduler.start()
        except Exception as exc:
            return f"the asyncz_queue scheduler failed to start: {type(exc).__name__}: {exc}"
        self._owned = True
        return None

    async def _stop(self) -> str | None:
        """Shut down the scheduler if we started it; the reason it failed, or None."""
        if not self._owned:
            return None
        self._owned = False
        if not self.scheduler.running:
            return None
        try:
            await self.scheduler.shutdown(wait=self.wait)
        except Exception as exc:
            return f"the asyncz_queue scheduler failed to shut down: {type(exc).__name__}: {exc}"
        return None

    async def _answer_lifespan(self, receive: Receive, send: Send) -> None:
        """Speak the lifespan protocol ourselves: start on startup, stop on shutdown."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                error = await self._start()
                if error is not None:
                    await send({"type": "lifespan.startup.failed", "message": error})
                    raise _StartupFailed(error)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                error = await self._stop()
                if error is not None:
                    await send({"type": "lifespan.shutdown.failed", "message": error})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the lifespan to the app, starting and stopping the scheduler around it."""
        failed: str | None = None  # why the scheduler did not start

        async def receive_wrapper() -> Message:
            nonlocal failed
            message = await receive()
            if message["type"] == "lifespan.startup":
                error = await self._start()
                if error is not None:
                    failed = error
                    await send({"type": "lifespan.startup.failed", "message": error})
                    raise _StartupFailed(error)
            return message

        async def send_wrapper(message: Message) -> None:
            kind = message["type"]
            if failed:
                return  # the server already has our answer
            if kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                error = await self._stop()
                if error is not None and kind == "lifespan.shutdown.complete":
                    message = {"type": "lifespan.shutdown.failed", "message": error}
            elif kind == "lifespan.startup.failed":
                await self._stop()  # the app cannot start: do not leave the scheduler running
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except Exception:
            if failed is None:
                raise
            raise _StartupFailed(failed) from None  # whatever the app raised, it was this
        finally:
            await self._stop()  # the app's lifespan ended early (or raised)
