"""A process-pool child does not inherit the parent's database connections."""

from __future__ import annotations

import sys

import psycopg
import pytest

from tests.badinput.helpers import running_scheduler
from tests.security.fds import socket_inodes

pytest.importorskip("asyncz_queue.executors.process")

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.postgres,
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/fd"),
]


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
async def test_process_pool_child_holds_none_of_the_parents_connections(
    postgres_dsn: str, start_method: str
) -> None:
    before = set(socket_inodes())
    executors = {
        "default": {"type": "asyncio"},
        "cpu": {"type": "processpool", "max_workers": 2, "start_method": start_method},
    }
    named = psycopg.conninfo.make_conninfo(postgres_dsn, application_name="fd-test")
    async with running_scheduler("postgres", named, executors=executors) as scheduler:
        # The parent's database sockets: the pool's and the listener's, opened by start().
        parent_db = set(socket_inodes()) - before
        assert parent_db, "the store opened no connection?"
        from asyncz_queue import Job

        job = Job.from_func("tests.security.fds:socket_inodes", executor="cpu")
        refs = [await scheduler.push(job.evolve(id=f"{job.id}-{i}")) for i in range(2)]
        for ref in refs:
            child = set(await ref.result(timeout=60))
            assert not child & parent_db, f"the child inherited {sorted(child & parent_db)}"
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fd-test'"
            )
            (count,) = await cur.fetchone()  # type: ignore[misc]
        assert count <= 4 + 1  # the pool's max_size and the listener: no child connected
