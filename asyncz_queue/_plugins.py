"""One registry per plugin kind (executor, store): alias -> lazily imported class."""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from asyncz_queue.exceptions import ConfigurationError, UnknownAliasError
from asyncz_queue.serializers import ref_to_callable

T = TypeVar("T")


class PluginRegistry(Generic[T]):
    """Maps aliases to `"module:Class"` strings (imported on first use) or classes.

    Built-ins are given at construction; third parties call `register()` or declare an
    entry point in `group`, read once on the first unknown alias.
    """

    def __init__(self, kind: str, base: type[T], group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.base = base
        self.group = group
        self._targets: dict[str, str | type[T]] = dict(builtins)
        self._entry_points_loaded = False

    def register(self, alias: str, target: str | type[T]) -> None:
        """Make `alias` refer to `target` (a class or `"package.module:Class"`)."""
        self._targets[alias] = target

    def _load_entry_points(self) -> None:
        self._entry_points_loaded = True
        for entry_point in entry_points(group=self.group):
            self._targets.setdefault(entry_point.name, entry_point.value)

    def aliases(self) -> list[str]:
        """Every known alias (built-in, registered and from entry points)."""
        if not self._entry_points_loaded:
            self._load_entry_points()
        return sorted(self._targets)

    def resolve(self, alias: str) -> type[T]:
        """The class registered under `alias`; `UnknownAliasError` lists the known ones."""
        if alias not in self._targets and not self._entry_points_loaded:
            self._load_entry_points()
        try:
            target = self._targets[alias]
        except KeyError:
            raise UnknownAliasError(self.kind, alias, self._targets) from None
        if isinstance(target, str):
            target = self._check_class(ref_to_callable(target), f"alias {alias!r}")
            self._targets[alias] = target
        return target

    def _check_class(self, obj: Any, where: str) -> type[T]:
        if not (inspect.isclass(obj) and issubclass(obj, self.base)):
            raise ConfigurationError(
                f"{self.kind} {where} refers to {obj!r}, not a subclass of {self.base.__name__}"
            )
        return obj

    def create(self, name: str, config: T | dict[str, Any]) -> T:
        """Build the plugin called `name` from an instance, `{"type": alias, **options}`
        or `{"class": "package.module:Class", **options}`.

        Option errors raise `ConfigurationError` naming the plugin and the option.
        """
        if isinstance(config, self.base):
            return config
        if not isinstance(config, dict):
            raise ConfigurationError(
                f"{self.kind} {name!r}: expected a {self.base.__name__} instance or a dict "
                f"with 'type' or 'class', got {type(config).__name__}"
            )
        options = dict(config)
        if "class" in options:
            cls = self._check_class(ref_to_callable(options.pop("class")), f"{name!r}")
        elif "type" in options:
            cls = self.resolve(options.pop("type"))
        else:
            raise ConfigurationError(f"{self.kind} {name!r}: the config needs 'type' or 'class'")
        try:
            return cls(**options)
        except TypeError as exc:
            raise ConfigurationError(f"{self.kind} {name!r}: {exc}") from None
        except ValueError as exc:
            raise ConfigurationError(f"{self.kind} {name!r}: {exc}") from None
