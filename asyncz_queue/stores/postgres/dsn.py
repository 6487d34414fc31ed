"""Showing a DSN without its password, and keeping the password out of error messages."""

from __future__ import annotations

import re
from collections.abc import Iterable

from psycopg import conninfo

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
# An unquoted value ends at white space; in messages it is often followed by ")" or ",",
# which are kept (the literal password is replaced first wherever it is known).
_KEY_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s),;]+)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&\s]*", re.IGNORECASE)


def mask_dsn(dsn: str) -> str:
    """`dsn` with its password replaced by `***` (`key=value` or URL form).

    A DSN that cannot be parsed is masked by pattern, so it never shows a password either.
    """
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except Exception:
        return _mask_by_pattern(dsn)
    if "password" in params:
        params["password"] = "***"
    return conninfo.make_conninfo("", **params)


def _mask_by_pattern(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _QUERY_PASSWORD.sub(r"\1***", text)
    return _KEY_PASSWORD.sub(r"\1***", text)


def password_of(dsn: str) -> str | None:
    """The password written in `dsn`, if any (to scrub it from messages)."""
    try:
        return conninfo.conninfo_to_dict(dsn).get("password")  # type: ignore[return-value]
    except Exception:
        return None


def scrub(message: str, dsn: str) -> str:
    """`message` with the DSN's password (and anything password-shaped) masked."""
    return redact(message, [password_of(dsn)])


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with each of `secrets` and every password-shaped part (URL, query and
    `password=` forms) replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "***")
    return _mask_by_pattern(text)
