"""Job functions for the bad-input tests (importable by name, as stores require)."""

from __future__ import annotations

from typing import Any


def echo(*args: Any, **kwargs: Any) -> Any:
    """Return the first argument (or the keyword arguments when there is none)."""
    return args[0] if args else kwargs


async def raise_system_exit() -> None:
    raise SystemExit(3)


async def raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt("pressed ^C inside a job")


async def raise_generator_exit() -> None:
    raise GeneratorExit("closed inside a job")


def raise_system_exit_sync() -> None:
    raise SystemExit(4)


def raise_keyboard_interrupt_sync() -> None:
    raise KeyboardInterrupt("pressed ^C inside a threaded job")


class NulError(ValueError):
    """An exception whose text holds NUL characters, as C libraries' messages may."""


async def raise_with_nul() -> None:
    raise NulError("bad byte \x00 in the middle\x00")
