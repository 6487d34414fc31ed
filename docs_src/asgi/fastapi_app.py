"""A FastAPI app that runs a scheduler: lifespan style, `async with scheduler:`.

Run it with `uvicorn docs_src.asgi.fastapi_app:app`, then
`curl -X POST 'localhost:8000/jobs?a=2&b=3'` and `curl localhost:8000/jobs/<id>`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException

from asyncz_queue import AsyncIOScheduler
from asyncz_queue.exceptions import JobLookupError

scheduler = AsyncIOScheduler()


async def add(a: int, b: int) -> int:
    """The job: module-level, so that any worker can import it by name."""
    await asyncio.sleep(0.1)
    return a + b


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with scheduler:  # started before the first request, shut down after the last
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/jobs", status_code=202)
async def push_job(a: int, b: int) -> dict[str, str]:
    ref = await scheduler.push(add, a, b)
    return {"id": ref.job_id}


@app.get("/jobs/{job_id}")
async def job_status(job_id: str) -> dict[str, Any]:
    try:
        job = await scheduler.get_job(job_id)
    except JobLookupError:
        raise HTTPException(status_code=404, detail="no such job") from None
    return {"id": job.id, "state": job.state, "result": job.result}
