"""Datasets as train / validation / test tf.data pipelines plus metadata.

``zoo.datasets.load("fashion_mnist", batch_size=128)`` returns a :class:`Dataset`. The
validation split is carved from the training data with a seed; the test split is only used
for the final evaluation. Each loader is a gin configurable under its own name, e.g.
``fashion_mnist.validation_split = 0.1``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gin

from zoo.datasets.base import TARGETS, Dataset, from_arrays, make_targets
from zoo.errors import unknown

_LOADERS: dict[str, Callable[..., Dataset]] = {}
_BUILTINS = ("zoo.datasets.images", "zoo.datasets.text")
_EXTRA_BUILTINS: list[str] = []


def register_dataset(name: str | None = None) -> Callable:
    """Register a loader ``fn(batch_size, target, seed, **kw) -> Dataset`` as a gin configurable."""

    def decorator(fn: Callable) -> Callable:
        ds_name = name or fn.__name__
        configured = gin.configurable(ds_name, module="zoo.datasets")(fn)
        _LOADERS[ds_name] = configured
        return configured

    return decorator


def _load_builtins() -> None:
    for module in (*_BUILTINS, *_EXTRA_BUILTINS):
        importlib.import_module(module)


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`."""
    _load_builtins()
    return sorted(_LOADERS)


def get_loader(name: str) -> Callable[..., Dataset]:
    """The loader registered as ``name`` (unknown names get suggestions)."""
    _load_builtins()
    if name not in _LOADERS:
        raise unknown("dataset", name, _LOADERS)
    return _LOADERS[name]


def supports_folds(name: str) -> bool:
    """Whether loader ``name`` takes ``fold`` and ``folds`` (k-fold cross-validation)."""
    import inspect

    params = inspect.signature(get_loader(name)).parameters
    return "fold" in params and "folds" in params


def load(name: str, **kwargs: Any) -> Dataset:
    """Load dataset ``name``; keyword arguments win over gin bindings and defaults."""
    _load_builtins()
    if name not in _LOADERS:
        raise unknown("dataset", name, _LOADERS)
    return _LOADERS[name](**kwargs)


__all__ = [
    "Dataset",
    "TARGETS",
    "from_arrays",
    "list_datasets",
    "get_loader",
    "supports_folds",
    "load",
    "make_targets",
    "register_dataset",
]
