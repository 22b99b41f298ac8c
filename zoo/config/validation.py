"""Every gin binding checked against the type its configurable declares, before any work.

A recipe or ``--bind`` that gives ``cnn.filters = 'wide'`` or ``train.epochs = 2.5`` gets one
sentence naming the binding, the value and what is allowed, instead of a traceback from deep
inside Keras at the first epoch. Types come from the annotations of each configurable
(``filters: Sequence[int]``); ranges are checked where the values are read (``train.*`` by
:class:`zoo.training.TrainSettings`, the others by their builders and loaders).
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any

from zoo._compat import gin_bindings, gin_function
from zoo.errors import ConfigError

_NAMES = {int: "an integer", float: "a number", bool: "True or False", str: "a quoted string"}


def check_bindings() -> None:
    """Raise ConfigError for the first binding whose value does not fit its declared type."""
    for (scope, selector), values in gin_bindings().items():
        wrapped = gin_function(selector)
        if wrapped is None:
            continue
        hints = _hints(wrapped)
        short = selector.split(".")[-1]
        name = f"{scope}/{short}" if scope else short
        for param, value in values.items():
            hint = hints.get(param)
            if hint is None or _is_gin_reference(value) or fits(value, hint):
                continue
            raise ConfigError(f"{name}.{param} must be {describe(hint)}, not {value!r}.")


def _hints(wrapped) -> dict[str, Any]:
    target = wrapped.__init__ if inspect.isclass(wrapped) else wrapped
    try:
        return typing.get_type_hints(target)
    except Exception:  # annotations that cannot be evaluated are not checked
        return {}


def _is_gin_reference(value: Any) -> bool:
    """``@name`` / ``%MACRO`` values: resolved by gin when called, not checked here."""
    return type(value).__name__ in ("ConfigurableReference", "MacroProxy", "_UnknownConfigurable")


def fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` (as gin parsed it) is of type ``hint``; unknown kinds of hints pass."""
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if hint in _NAMES:
        return _fits_scalar(value, hint)
    if origin in (list, tuple, collections.abc.Sequence) or hint in (
        list,
        tuple,
        collections.abc.Sequence,
    ):
        return _fits_sequence(value, origin or hint, args)
    if origin in (dict, collections.abc.Mapping) or hint in (dict, collections.abc.Mapping):
        return isinstance(value, dict)
    if origin is collections.abc.Callable or hint is collections.abc.Callable:
        return callable(value)
    return True


def _fits_scalar(value: Any, hint: type) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, int | float)
    return isinstance(value, hint)


def _fits_sequence(value: Any, origin: Any, args: tuple) -> bool:
    if not isinstance(value, list | tuple):
        return False
    if not args:
        return True
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return len(value) == len(args) and all(fits(v, a) for v, a in zip(value, args, strict=True))
    return all(fits(v, args[0]) for v in value)


def describe(hint: Any) -> str:
    """The type in words: ``Sequence[int] | None`` -> 'None or a list of integers'."""
    if hint is None or hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [describe(a) for a in args]
        parts.sort(key=lambda p: p != "None")
        return " or ".join(dict.fromkeys(parts))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if hint in _NAMES:
        return _NAMES[hint]
    if origin in (list, tuple, collections.abc.Sequence):
        inner = describe(args[0]) if args else "values"
        return "a list of " + _plural(inner)
    if origin in (dict, collections.abc.Mapping) or hint is dict:
        return "a dictionary {key: value}"
    return getattr(hint, "__name__", str(hint))


def _plural(words: str) -> str:
    for one, many in (
        ("an integer", "integers"),
        ("a number", "numbers"),
        ("a quoted string", "quoted strings"),
        ("True or False", "booleans"),
    ):
        words = words.replace(one, many)
    return words
