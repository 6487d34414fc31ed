"""What the command line's subcommands share: errors, secrets, tables, JSON and times."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from asyncz_queue.exceptions import AsynczQueueError

#: Where inspection commands read the database from when `--dsn` is not given.
DSN_ENV = "ASYNCZ_QUEUE_DSN"


class CommandError(Exception):
    """A failure to report as one line on stderr (no traceback), then exit with `status`."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with passwords removed: URL and `password=` forms, and each of `secrets`."""
    from asyncz_queue.stores.postgres.dsn import redact as redact_passwords

    return redact_passwords(text, secrets)


def one_line(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """`exc` on one line, passwords removed: its message, after its type unless it is ours."""
    message = " ".join(str(exc).split()) or "(no message)"
    if not isinstance(exc, AsynczQueueError):  # our messages say what went wrong already
        message = f"{type(exc).__name__}: {message}"
    return redact(message, secrets)


# ---- output -------------------------------------------------------------------------


def print_json(data: Any, out: TextIO | None = None) -> None:
    """Write `data` as indented JSON (datetimes as ISO 8601)."""
    json.dump(data, out or sys.stdout, indent=2, default=_json_default)
    (out or sys.stdout).write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], out: TextIO | None = None
) -> None:
    """Write rows under `headers` in aligned columns; `None` cells show as `-`."""
    stream = out or sys.stdout
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    for row in [list(headers), *cells]:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        stream.write(line.rstrip() + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return " ".join(str(value).split())


def format_time(when: datetime | None) -> str:
    """A UTC time to the second (`2025-01-31 12:00:05Z`), or `-`."""
    if when is None:
        return "-"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_duration(seconds: float) -> str:
    """Seconds as `1h02m03s`, `2m05s` or `4.2s`."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def shorten(text: str | None, width: int) -> str | None:
    """`text` on one line, cut to `width` characters with an ellipsis."""
    if text is None:
        return None
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
