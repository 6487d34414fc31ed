"""A Starlette app that runs a scheduler: wrapper style, `scheduler.asgi(app)`.

Run it with `uvicorn docs_src.asgi.starlette_app:app`, then
`curl -X POST 'localhost:8000/jobs?a=2&b=3'` and `curl localhost:8000/jobs/<id>`.
"""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import JobLookupError

scheduler = AsyncIOScheduler()


async def add(a: int, b: int) -> int:
    """The job: module-level, so that any worker can import it by name."""
    await asyncio.sleep(0.1)
    return a + b


async def push_job(request: Request) -> JSONResponse:
    a, b = int(request.query_params["a"]), int(request.query_params["b"])
    ref = await scheduler.push(add, a, b)
    return JSONResponse({"id": ref.job_id}, status_code=202)


async def job_status(request: Request) -> JSONResponse:
    try:
        job = await scheduler.get_job(request.path_params["job_id"])
    except JobLookupError:
        return JSONResponse({"error": "no such job"}, status_code=404)
    return JSONResponse({"id": job.id, "state": job.state, "result": job.result})


app = scheduler.asgi(
    Starlette(
        routes=[
            Route("/jobs", push_job, methods=["POST"]),
            Route("/jobs/{job_id}", job_status),
        ]
    )
)
