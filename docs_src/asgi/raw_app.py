"""A bare ASGI app without lifespan support: the decorator answers the lifespan for it.

Run it with `uvicorn docs_src.asgi.raw_app:app`; every request pushes a job and waits for it.
"""

from __future__ import annotations

import json
from typing import Any

from asyncz_queue import AsyncIOScheduler

scheduler = AsyncIOScheduler()


def greet(name: str) -> str:
    """The job: a plain function runs in a worker thread."""
    return f"hello, {name}"


@scheduler.asgi(handle_lifespan=True)
async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"  # lifespan messages never get here
    ref = await scheduler.push(greet, scope["path"].strip("/") or "world")
    body = json.dumps({"result": await ref.result(timeout=5)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
