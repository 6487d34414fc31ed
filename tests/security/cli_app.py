"""A scheduler for the CLI tests: its store's DSN comes from `SECURITY_TEST_DSN`."""

from __future__ import annotations

import os

from asyncz_queue import AsyncIOScheduler

scheduler = AsyncIOScheduler(
    stores={
        "default": {
            "type": "postgres",
            "dsn": os.environ.get("SECURITY_TEST_DSN", "postgresql://nobody@127.0.0.1:1/none"),
            "schema": os.environ.get("SECURITY_TEST_SCHEMA", "asyncz_queue"),
            "timeout": 3.0,
        }
    },
    lease_seconds=3,
)
