"""How arguments, results and callables are turned into bytes a store can keep.

JSON is the default everywhere. Pickle is opt-in (`serializer="pickle"`) and unsafe
for a database that someone else can write to: loading a pickle runs code.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from asyncz_queue.exceptions import CallableReferenceError, SerializationError


class Serializer(ABC):
    """Turns Python values into bytes and back."""

    alias: ClassVar[str]

    @abstractmethod
    def dumps(self, value: Any) -> bytes:
        """Return `value` as bytes; raise `SerializationError` naming what cannot be stored."""

    @abstractmethod
    def loads(self, data: bytes) -> Any:
        """Return the value `dumps` was given."""

    def check(self, value: Any, what: str) -> None:
        """Raise `SerializationError` naming `what` when `value` cannot be stored."""
        if not value and type(value) in _EMPTY_OK:  # no arguments: nothing to check
            return
        self._dumps_naming(value, what)

    def stored(self, value: Any, what: str) -> Any:
        """`value` as a store gives it back, through `dumps` and `loads` (JSON turns tuples
        into lists and dict keys into strings); `SerializationError` naming `what` when it
        cannot be stored. No arguments come back as they are."""
        if not value and type(value) in _EMPTY_OK:
            return value
        return self.loads(self._dumps_naming(value, what))

    def _dumps_naming(self, value: Any, what: str) -> bytes:
        try:
            return self.dumps(value)
        except SerializationError as exc:
            raise SerializationError(f"{what} cannot be stored: {exc}") from None


_EMPTY_OK = (tuple, dict)


def _refuse(value: Any) -> Any:
    raise TypeError(f"object of type {type(value).__qualname__} is not JSON serializable")


class JSONSerializer(Serializer):
    """JSON (the default): safe to load from any database, limited to JSON types."""

    alias = "json"

    def dumps(self, value: Any) -> bytes:
        try:
            return json.dumps(value, separators=(",", ":"), default=_refuse).encode()
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"{exc} (use JSON types, or serializer='pickle')") from None
        except RecursionError:
            raise SerializationError("the value is nested too deeply to store as JSON") from None

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


class PickleSerializer(Serializer):
    """Pickle: any picklable value, but loading runs code — never use it on untrusted data."""

    alias = "pickle"

    def dumps(self, value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise SerializationError(f"cannot pickle {type(value).__qualname__}: {exc}") from None

    def loads(self, data: bytes) -> Any:
        return pickle.loads(data)


SERIALIZERS: dict[str, type[Serializer]] = {"json": JSONSerializer, "pickle": PickleSerializer}


def get_serializer(serializer: str | Serializer) -> Serializer:
    """Return a serializer instance from an alias (`"json"`, `"pickle"`) or an instance."""
    if isinstance(serializer, Serializer):
        return serializer
    try:
        return SERIALIZERS[serializer]()
    except KeyError:
        from asyncz_queue.exceptions import UnknownAliasError

        raise UnknownAliasError("serializer", serializer, SERIALIZERS) from None


def callable_to_ref(func: Callable[..., Any] | str, verify: bool = True) -> str:
    """Return the importable `"module:qualname"` reference of `func`.

    Raises `CallableReferenceError` for lambdas, closures, bound methods of instances and
    anything else that cannot be imported back by name. `verify=False` skips importing the
    reference back (for a decorator, whose function is not bound in its module yet); the
    caller must verify it later with `ref_to_callable`.
    """
    if isinstance(func, str):
        if verify and func not in _verified:
            ref_to_callable(func)  # fail now, at add/push time, not in a worker later
            _verified[func] = func
        return func
    known = _verified.get(func)
    if known is not None:
        return known
    if inspect.ismethod(func) and not inspect.isclass(func.__self__):
        raise CallableReferenceError(
            f"cannot store a reference to the bound method {func.__qualname__!r}: "
            "use a module-level function or a classmethod/staticmethod"
        )
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not module or not qualname:
        raise CallableReferenceError(
            f"cannot store a reference to {func!r}: it has no __module__/__qualname__"
        )
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise CallableReferenceError(
            f"cannot store a reference to {module}:{qualname}: lambdas and nested functions "
            "cannot be imported by name; define the function at module level"
        )
    ref = f"{module}:{qualname}"
    if not verify:
        return ref
    try:
        found = ref_to_callable(ref)
    except CallableReferenceError:
        found = None
    if found is not func and getattr(found, "__wrapped__", None) is not func:
        raise CallableReferenceError(
            f"cannot store a reference to {ref}: importing it by that name gives another object"
        )
    with contextlib.suppress(TypeError):  # an unhashable callable object is checked each time
        _verified[func] = ref
    _verified[ref] = ref
    return ref


#: Callables and references already imported back by name (`callable_to_ref`): checked
#: once each.
_verified: dict[Any, str] = {}


def ref_to_callable(ref: str) -> Callable[..., Any]:
    """Import and return the callable named by a `"module:qualname"` reference."""
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname:
        raise CallableReferenceError(
            f"invalid callable reference {ref!r}: expected 'package.module:qualname'"
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise CallableReferenceError(
            f"cannot import module {module_name!r} of callable reference {ref!r}: {exc}"
        ) from None
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CallableReferenceError(
                f"module {module_name!r} has no attribute {qualname!r} (callable reference {ref!r})"
            ) from None
    if not callable(obj):
        raise CallableReferenceError(f"{ref!r} refers to a {type(obj).__name__}, not a callable")
    return obj
