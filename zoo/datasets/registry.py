"""The table of dataset loaders: each registered under its name as a gin configurable."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import gin

from zoo.datasets.base import Dataset
from zoo.errors import unknown

_LOADERS: dict[str, Callable[..., Dataset]] = {}


def register_dataset(name: str | None = None) -> Callable:
    """Register a loader ``fn(batch_size, target, seed, **kw) -> Dataset`` as a gin configurable."""

    def decorator(fn: Callable) -> Callable:
        ds_name = name or fn.__name__
        configured = gin.configurable(ds_name, module="zoo.datasets")(fn)
        _LOADERS[ds_name] = configured
        return configured

    return decorator


def list_datasets() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_LOADERS)


def get_loader(name: str) -> Callable[..., Dataset]:
    """The loader registered as ``name`` (unknown names get suggestions)."""
    if name not in _LOADERS:
        raise unknown("dataset", name, _LOADERS)
    return _LOADERS[name]


def supports_folds(name: str) -> bool:
    """Whether loader ``name`` takes ``fold`` and ``folds`` (k-fold cross-validation)."""
    params = inspect.signature(get_loader(name)).parameters
    return "fold" in params and "folds" in params


def load(name: str, **kwargs: Any) -> Dataset:
    """Load dataset ``name``; keyword arguments win over gin bindings and defaults."""
    return get_loader(name)(**kwargs)
