"""The ASGI face: a scheduler lives exactly as long as the app's lifespan.

The example apps of `docs_src/asgi/` run under a real uvicorn server on 127.0.0.1 and through
`asgi-lifespan` without a server; the raw protocol is checked message by message.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asyncz_queue import AsyncIOScheduler
from docs_src.asgi import fastapi_app, raw_app, starlette_app
from tests.integration.asgi_apps import UnreachableStore

pytestmark = pytest.mark.anyio

EXAMPLES = [starlette_app, fastapi_app]
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1; stop the server on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + 10
        while not server.started and not task.done():
            assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def push_and_collect(client: httpx.AsyncClient) -> dict[str, Any]:
    """Push `add(2, 3)` through the app and poll its state until it has finished."""
    pushed = await client.post("/jobs", params={"a": 2, "b": 3})
    assert pushed.status_code == 202, pushed.text
    job_id = pushed.json()["id"]
    deadline = time.monotonic() + 10
    while True:
        shown = await client.get(f"/jobs/{job_id}")
        assert shown.status_code == 200, shown.text
        if shown.json()["state"] not in ("pending", "running"):
            return shown.json()
        assert time.monotonic() < deadline, f"job still {shown.json()['state']} after 10 s"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda module: module.__name__.split(".")[-1])
async def test_example_app_under_uvicorn_runs_a_pushed_job_and_returns_its_result(
    example: ModuleType,
) -> None:
    async with serving(example.app) as (url, _server):
        assert example.scheduler.running
        async with httpx.AsyncClient(base_url=url) as client:
            job = await push_and_collect(client)
            missing = await client.get("/jobs/no-such-id")
    assert job["state"] == "succeeded" and job["result"] == 5
    assert missing.status_code == 404
    assert not example.scheduler.running  # the server's shutdown stopped it


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda module: module.__name__.split(".")[-1])
async def test_example_app_through_asgi_lifespan_without_a_server(example: ModuleType) -> None:
    async with LifespanManager(example.app) as manager:
        assert example.scheduler.running
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            job = await push_and_collect(client)
    assert job == {"id": job["id"], "state": "succeeded", "result": 5}
    assert not example.scheduler.running


async def test_handle_lifespan_runs_the_scheduler_for_an_app_without_lifespan() -> None:
    async with serving(raw_app.app) as (url, _server):
        assert raw_app.scheduler.running
        async with httpx.AsyncClient(base_url=url) as client:
            answer = await client.get("/ada")
    assert answer.json() == {"result": "hello, ada"}
    assert not raw_app.scheduler.running


async def test_scheduler_starts_before_app_startup_and_stops_after_app_shutdown() -> None:
    scheduler = AsyncIOScheduler()
    seen: list[tuple[str, bool]] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        seen.append(("app startup", scheduler.running))
        yield
        seen.append(("app shutdown", scheduler.running))

    app = scheduler.asgi(Starlette(lifespan=lifespan))
    async with LifespanManager(app):
        pass
    assert seen == [("app startup", True), ("app shutdown", True)]
    assert not scheduler.running


async def test_decorator_form_wraps_the_app_it_is_given() -> None:
    scheduler = AsyncIOScheduler()

    @scheduler.asgi
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    async with LifespanManager(app):
        assert scheduler.running
    assert not scheduler.running


async def lifespan_messages(app: Any) -> list[dict[str, Any]]:
    """Drive `app`'s lifespan by hand (startup, then shutdown if it started); what it sent.

    An exception the app raises after reporting a failure (as Starlette does) is ignored.
    """
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete":
            await inbox.put({"type": "lifespan.shutdown"})

    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    try:
        await asyncio.wait_for(app(scope, inbox.get, send), 10)
    except Exception:
        assert sent and sent[-1]["type"].endswith(".failed"), "raised without reporting"
    return sent


@pytest.mark.parametrize("handle_lifespan", [False, True])
async def test_failed_start_reports_startup_failed_with_the_reason(handle_lifespan: bool) -> None:
    scheduler = AsyncIOScheduler(stores={"default": UnreachableStore()})
    app = scheduler.asgi(Starlette(), handle_lifespan=handle_lifespan)
    sent = await lifespan_messages(app)
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    assert "ConnectionError: database at db.example:5432 is unreachable" in sent[0]["message"]
    assert not scheduler.running


@pytest.mark.parametrize("handle_lifespan", [False, True])
async def test_asgi_lifespan_raises_the_reason_at_once_when_the_scheduler_cannot_start(
    handle_lifespan: bool,
) -> None:
    scheduler = AsyncIOScheduler(stores={"default": UnreachableStore()})
    app = scheduler.asgi(Starlette(), handle_lifespan=handle_lifespan)
    with pytest.raises(Exception, match=r"db\.example:5432 is unreachable"):
        async with LifespanManager(app, startup_timeout=5):
            pass


@pytest.mark.parametrize("handle_lifespan", [False, True])
def test_starlettes_test_client_refuses_to_start_when_the_scheduler_cannot(
    handle_lifespan: bool,
) -> None:
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    scheduler = AsyncIOScheduler(stores={"default": UnreachableStore()})
    app = scheduler.asgi(FastAPI(), handle_lifespan=handle_lifespan)
    entered = []
    with pytest.raises(RuntimeError, match=r"db\.example:5432 is unreachable"):  # noqa: SIM117
        with TestClient(app):
            entered.append(True)
    assert entered == []


def test_uvicorn_refuses_to_start_when_the_scheduler_cannot() -> None:
    server = subprocess.run(
        [sys.executable, "-m", "uvicorn", "tests.integration.asgi_apps:app", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert server.returncode != 0
    assert "database at db.example:5432 is unreachable" in server.stderr
    assert "Application startup failed" in server.stderr


async def test_app_that_fails_its_own_startup_leaves_no_scheduler_running() -> None:
    scheduler = AsyncIOScheduler()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("the app's own startup failed")
        yield

    sent = await lifespan_messages(scheduler.asgi(Starlette(lifespan=lifespan)))
    assert [message["type"] for message in sent] == ["lifespan.startup.failed"]
    assert "the app's own startup failed" in sent[0]["message"]
    assert not scheduler.running


async def test_a_scheduler_started_elsewhere_is_left_running() -> None:
    scheduler = AsyncIOScheduler()
    async with scheduler:
        async with LifespanManager(scheduler.asgi(Starlette())):
            pass
        assert scheduler.running  # its owner stops it, not the app


async def test_http_requests_reach_the_wrapped_app_unchanged() -> None:
    scheduler = AsyncIOScheduler()
    route = Route("/ping", lambda request: PlainTextResponse("pong"))
    app = scheduler.asgi(Starlette(routes=[route]))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            assert (await client.get("/ping")).text == "pong"
