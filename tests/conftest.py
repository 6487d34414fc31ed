"""Shared test configuration: the anyio backend and the throwaway PostgreSQL plugin."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.pg_cluster"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
