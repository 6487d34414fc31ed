"""Pytest plugin: a throwaway PostgreSQL cluster for the test session, and store fixtures.

The cluster is built with Debian's server binaries (`/usr/lib/postgresql/*/bin`) in a fresh
temporary directory, listens on a unix socket there and on 127.0.0.1 (a free port) only,
runs without fsync, and is removed at the end of the session. As root, `initdb`/`pg_ctl`
run as the `postgres` user. Set `ASYNCZ_QUEUE_TEST_DSN` to use an existing server instead
(tests that restart the server are then skipped).

Fixtures: `postgres_cluster` and `postgres_dsn` (session), `postgres_store` (a started,
migrated `PostgresStore` on a fresh schema, dropped afterwards), `postgres_store_pair` (two
of them sharing one schema, like two processes) and `store` (the conformance fixture: the
same tests against `MemoryStore` and `PostgresStore`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

DSN_ENV = "ASYNCZ_QUEUE_TEST_DSN"
PASSWORD = "asyncz-test-secret"
_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "shared_buffers": "64MB",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "deadlock_timeout": "200ms",
}


@dataclass
class PostgresCluster:
    """A running server: `dsn` over the unix socket (trusted), `tcp_dsn` over 127.0.0.1
    with a password; `restart()` exists only for a throwaway cluster."""

    dsn: str
    tcp_dsn: str | None = None
    password: str | None = None
    bin_dir: Path | None = None
    data_dir: Path | None = None
    run_as: str | None = None

    @property
    def throwaway(self) -> bool:
        """True when the tests own this server (and may restart it)."""
        return self.data_dir is not None

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `pg_ctl -D <data dir> args...` as the cluster's owner."""
        assert self.bin_dir is not None and self.data_dir is not None
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args]
        return _run(command, self.run_as, check=check)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`mode`: smart, fast or immediate)."""
        self.pg_ctl("stop", "-m", mode, "-w", check=False)

    def start(self) -> None:
        """Start the server again (after `stop`) and wait until it accepts connections."""
        assert self.data_dir is not None
        self.pg_ctl("start", "-w", "-t", "60", "-l", str(self.data_dir.parent / "server.log"))

    def restart(self, mode: str = "fast") -> None:
        """Restart the server: every connection is dropped."""
        self.stop(mode)
        self.start()


def _run(
    command: list[str], user: str | None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def find_bin_dir() -> Path | None:
    """The newest `/usr/lib/postgresql/<version>/bin` that has `initdb`, if any."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    return Path(max(found, key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))).parent


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_cluster(bin_dir: Path, root: Path) -> PostgresCluster:
    """initdb + start a cluster under `root` (which is removed by the caller)."""
    run_as = "postgres" if os.geteuid() == 0 else None
    if run_as is not None:
        try:
            pwd.getpwnam(run_as)
        except KeyError:
            raise RuntimeError(
                "initdb refuses to run as root and there is no 'postgres' user to run it as "
                "(Debian's postgresql package creates one); or set " + DSN_ENV
            ) from None
    data_dir, sock_dir = root / "data", root / "sock"
    sock_dir.mkdir()
    pwfile = root / "pwfile"
    pwfile.write_text(PASSWORD + "\n")
    if run_as is not None:
        owner = pwd.getpwnam(run_as)
        for path in (root, sock_dir, pwfile):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    _run(
        [str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "-E", "UTF8",
         "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
         f"--pwfile={pwfile}", "--no-sync"],
        run_as,
    )  # fmt: skip
    port = _free_port()
    settings = {**_SETTINGS, "port": str(port), "unix_socket_directories": f"'{sock_dir}'"}
    with open(data_dir / "postgresql.auto.conf", "a") as conf:
        conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
    cluster = PostgresCluster(
        dsn=f"host={sock_dir} port={port} user=postgres dbname=postgres",
        tcp_dsn=f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
        password=PASSWORD,
        bin_dir=bin_dir,
        data_dir=data_dir,
        run_as=run_as,
    )
    cluster.start()
    return cluster


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL server (throwaway, or the one `ASYNCZ_QUEUE_TEST_DSN` names)."""
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        yield PostgresCluster(dsn=dsn)
        return
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries not found (apt-get install -y postgresql) "
            f"and {DSN_ENV} is not set"
        )
    root = Path(tempfile.mkdtemp(prefix="asyncz-queue-pg-"))
    cluster: PostgresCluster | None = None
    try:
        cluster = create_cluster(bin_dir, root)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """A DSN of the session's server (unix socket for the throwaway cluster)."""
    return postgres_cluster.dsn


def unique_schema() -> str:
    """A fresh schema name for one test."""
    return f"t_{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def open_postgres_store(dsn: str, **options: Any) -> AsyncIterator[Any]:
    """A migrated, started `PostgresStore` on a fresh schema; dropped on exit."""
    import psycopg
    from psycopg import sql

    from asyncz_queue.stores.postgres import PostgresStore

    options.setdefault("schema", unique_schema())
    options.setdefault("max_size", 4)
    store = PostgresStore(dsn, **options)
    await store.migrate()
    await store.start(f"test-{uuid.uuid4().hex[:6]}")
    try:
        yield store
    finally:
        await store.shutdown()
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(store.schema))
            )


@pytest.fixture
async def postgres_store(postgres_dsn: str) -> AsyncIterator[Any]:
    """A started `PostgresStore` on a fresh, migrated schema (dropped after the test)."""
    async with open_postgres_store(postgres_dsn) as store:
        yield store


@pytest.fixture
async def postgres_store_pair(postgres_dsn: str) -> AsyncIterator[tuple[Any, Any]]:
    """Two started `PostgresStore`s sharing one fresh schema, like two processes."""
    schema = unique_schema()
    async with (
        open_postgres_store(postgres_dsn, schema=schema) as first,
        open_postgres_store(postgres_dsn, schema=schema) as second,
    ):
        yield first, second


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_kind(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """Which store the conformance fixture builds, with the DSN for Postgres.

    Sync on purpose: it may resolve `postgres_dsn` (a sync fixture) on demand, so the
    memory half of the suite never needs a server.
    """
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_dsn")
    return "memory", None


@pytest.fixture
async def store(store_kind: tuple[str, str | None]) -> AsyncIterator[Any]:
    """The conformance fixture: a started `MemoryStore`, then a started `PostgresStore`."""
    kind, dsn = store_kind
    if kind == "memory":
        from asyncz_queue.stores.memory import MemoryStore

        memory = MemoryStore()
        await memory.start("test")
        try:
            yield memory
        finally:
            await memory.shutdown()
        return
    assert dsn is not None
    async with open_postgres_store(dsn) as postgres:
        yield postgres


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> bool:
    """Poll a plain predicate until true or `timeout` (for multi-process tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
