"""The DSN's password never shows: not in errors, logs, events, reprs or CLI output."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from asyncz_queue.exceptions import ConfigurationError, StoreUnavailableError
from asyncz_queue.stores.postgres import PostgresStore
from tests.badinput.helpers import running_scheduler
from tests.pg_cluster import PostgresCluster, unique_schema

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
WRONG = "Wr0ng-pa55word-never-print-me"


def _port(cluster: PostgresCluster) -> str:
    assert cluster.tcp_dsn is not None
    return cluster.tcp_dsn.split("port=")[1].split()[0]


def dsn_forms(cluster: PostgresCluster, password: str) -> list[str]:
    """The same TCP server written every way libpq accepts a password."""
    port = _port(cluster)
    return [
        f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres?connect_timeout=3",
        f"host=127.0.0.1 port={port} user=postgres dbname=postgres password={password}",
        f"host=127.0.0.1 port={port} user=postgres password='{password} x' dbname=postgres",
        f"postgresql://postgres@127.0.0.1:{port}/postgres?password={password}",
    ]


def secret_of(dsn: str) -> str:
    return WRONG if WRONG in dsn else dsn.split("password=")[-1].split()[0].strip("'")


def assert_hidden(secret: str, *texts: Any) -> None:
    for text in texts:
        assert secret not in str(text), f"the password shows in: {str(text)[:300]!r}"


@pytest.fixture
def cluster(postgres_cluster: PostgresCluster) -> PostgresCluster:
    if postgres_cluster.tcp_dsn is None:
        pytest.skip("needs the throwaway cluster's TCP listener with a password")
    return postgres_cluster


async def test_wrong_password_error_does_not_show_it(
    cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for dsn in dsn_forms(cluster, WRONG):
        store = PostgresStore(dsn, schema=unique_schema(), timeout=3)
        with pytest.raises(StoreUnavailableError) as caught:
            await store.start("security-test")
        shown = "".join(traceback.format_exception(caught.value))
        assert "password" in str(caught.value) or "authentication" in str(caught.value)
        assert_hidden(WRONG, caught.value, repr(caught.value), shown, store.dsn, repr(store))
        with pytest.raises(StoreUnavailableError) as migrate_error:
            await store.migrate()
        assert_hidden(WRONG, "".join(traceback.format_exception(migrate_error.value)))
    assert_hidden(WRONG, caplog.text)


def test_unparsable_dsn_error_does_not_show_the_password() -> None:
    for dsn in (
        f"postgresql://postgres:{WRONG}@127.0.0.1:notaport/db",
        f"host=127.0.0.1 password={WRONG} user",
        f"password='{WRONG} unterminated",
    ):
        try:
            store = PostgresStore(dsn)
        except ConfigurationError as exc:
            assert_hidden(WRONG, exc, repr(exc), "".join(traceback.format_exception(exc)))
        else:  # accepted by the parser: then only the masked form may show
            assert_hidden(WRONG, store.dsn, repr(store))


async def test_outage_logs_and_events_do_not_show_the_password(
    cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    if not cluster.throwaway:
        pytest.skip("restarts the server")
    caplog.set_level(logging.DEBUG)
    dsn = dsn_forms(cluster, cluster.password or "")[0]
    secret = cluster.password or ""
    events: list[Any] = []
    errors: list[BaseException] = []
    store_options = {"timeout": 0.5, "poll_interval": 0.2}
    async with running_scheduler(
        "postgres", dsn, store_options=store_options, lease_seconds=1
    ) as scheduler:
        scheduler.add_listener(events.append)
        await scheduler.push("tests.badinput.funcs:echo", 1)
        await asyncio.to_thread(cluster.stop, "fast")
        for _ in range(3):  # the loops fail meanwhile: errors are logged and emitted
            try:
                await scheduler.push("tests.badinput.funcs:echo", 0)
            except StoreUnavailableError as exc:
                errors.append(exc)
            await asyncio.sleep(0.7)
        await asyncio.to_thread(cluster.start)
        for _ in range(40):  # the pool reconnects within its own backoff
            try:
                ref = await scheduler.push("tests.badinput.funcs:echo", 2)
                break
            except StoreUnavailableError as exc:
                errors.append(exc)
                await asyncio.sleep(0.25)
        assert await ref.result(timeout=20) == 2
        assert_hidden(secret, repr(scheduler.stores), scheduler.stores["default"].dsn)
    assert errors, "pushing while the server is down should fail"
    assert any(getattr(e, "exception", None) for e in events), "no STORE_ERROR event"
    shown = ["".join(traceback.format_exception(exc)) for exc in errors]
    assert_hidden(secret, caplog.text, *shown, *(e.to_dict() for e in events))


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "asyncz_queue", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_does_not_show_the_password(cluster: PostgresCluster) -> None:
    wrong = dsn_forms(cluster, WRONG)[0]
    for command in (["migrate"], ["tasks"], ["jobs"], ["status"]):
        result = _cli(*command, "--dsn", wrong)
        assert result.returncode != 0, command
        assert result.stderr or result.stdout
        assert_hidden(WRONG, result.stdout, result.stderr)
    # The DSN from the environment, and a worker app whose store has the wrong password.
    result = _cli("jobs", env={"ASYNCZ_QUEUE_DSN": wrong})
    assert result.returncode != 0
    assert_hidden(WRONG, result.stdout, result.stderr)
    result = _cli("worker", "tests.security.cli_app:scheduler", env={"SECURITY_TEST_DSN": wrong})
    assert result.returncode != 0
    assert_hidden(WRONG, result.stdout, result.stderr)
    # The right password: the commands work and still never print it.
    right = dsn_forms(cluster, cluster.password or "")[1]
    schema = unique_schema()
    for command in (["migrate"], ["tasks"], ["jobs"], ["status"]):
        result = _cli(*command, "--dsn", right, "--schema", schema)
        assert result.returncode == 0, result.stderr
        assert_hidden(cluster.password or "", result.stdout, result.stderr)
