"""A pickle that does something when loaded: it creates a directory (harmless, visible)."""

from __future__ import annotations

import os
import pickle
from typing import Any


class MakeDirectory:
    """Unpickling this calls `os.mkdir(path)`: what a hostile payload would do with `os.system`."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


def payload(path: str) -> bytes:
    """The bytes a pickle store would keep for `([MakeDirectory(path)], {})`."""
    return pickle.dumps(((MakeDirectory(path),), {}))
