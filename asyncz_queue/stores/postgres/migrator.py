"""Versioned schema migrations shipped in `migrations/NNNN_name.sql`, and the version check.

`migrate()` runs the missing ones in one transaction under an advisory lock, so two
processes migrating at once apply each migration exactly once; `check_version()` is what
`PostgresStore.start()` uses to refuse a schema this code does not match.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from psycopg import AsyncConnection, sql

from asyncz_queue.exceptions import SchemaVersionError
from asyncz_queue.stores.postgres.statements import placeholder_safe

_CREATE_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS {schema}.schema_version (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    )
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: `0001_initial.sql` is version 1 named `initial`."""

    version: int
    name: str
    sql: str


@cache
def available() -> tuple[Migration, ...]:
    """Every migration shipped with the package, by version."""
    found: list[Migration] = []
    folder = resources.files(__package__).joinpath("migrations")
    for entry in folder.iterdir():
        stem, _, suffix = entry.name.partition(".")
        number, _, name = stem.partition("_")
        if suffix != "sql" or not number.isdigit():
            continue
        found.append(Migration(int(number), name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    return tuple(found)


def latest_version() -> int:
    """The schema version this code expects."""
    return available()[-1].version


async def current_version(conn: AsyncConnection, schema: str) -> int | None:
    """The schema's applied version, or None when it has no asyncz_queue tables."""
    table = f"{sql.Identifier(schema).as_string(None)}.schema_version"
    cur = await conn.execute("SELECT to_regclass(%s)", [table])
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    query = sql.SQL("SELECT max(version) FROM {}.schema_version").format(sql.Identifier(schema))
    cur = await conn.execute(query)
    row = await cur.fetchone()
    return None if row is None else row[0]


async def migrate(conn: AsyncConnection, schema: str) -> list[int]:
    """Create or upgrade `schema`; returns the versions applied now (empty: up to date).

    Raises `SchemaVersionError` when the schema is newer than this code.
    """
    ident = sql.Identifier(schema)
    async with conn.transaction():
        # One migrator per schema at a time; the lock ends with the transaction.
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext('asyncz_queue.migrate'), hashtext(%s))",
            [schema],
        )
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
        await conn.execute(sql.SQL(_CREATE_VERSION_TABLE).format(schema=ident))
        version = await current_version(conn, schema) or 0
        _refuse_newer(schema, version)
        applied: list[int] = []
        for migration in available():
            if migration.version <= version:
                continue
            await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(ident))
            await conn.execute(migration.sql.encode())
            await conn.execute(
                sql.SQL("INSERT INTO {}.schema_version (version, name) VALUES (%s, %s)").format(
                    sql.SQL(placeholder_safe(schema))
                ),
                [migration.version, migration.name],
            )
            applied.append(migration.version)
    return applied


async def check_version(conn: AsyncConnection, schema: str) -> None:
    """Raise `SchemaVersionError` unless `schema` is at the version this code expects."""
    version = await current_version(conn, schema)
    latest = latest_version()
    if version is None:
        raise SchemaVersionError(
            f"the PostgreSQL schema {schema!r} has no asyncz_queue tables; create them with "
            "`await scheduler.migrate()` (or `asyncz-queue migrate --dsn ...`) first"
        )
    _refuse_newer(schema, version)
    if version < latest:
        raise SchemaVersionError(
            f"the PostgreSQL schema {schema!r} is at version {version}, this asyncz_queue "
            f"needs version {latest}; upgrade it with `await scheduler.migrate()` "
            "(or `asyncz-queue migrate --dsn ...`)"
        )


def _refuse_newer(schema: str, version: int) -> None:
    latest = latest_version()
    if version > latest:
        raise SchemaVersionError(
            f"the PostgreSQL schema {schema!r} is at version {version}, newer than this "
            f"asyncz_queue supports (up to {latest}); upgrade asyncz_queue, or use another "
            "schema"
        )
