"""Training callbacks: the side-by-side TensorBoard + MLflow logger and MLflow run handling.

Importing this package is cheap (no TensorFlow); the Keras callbacks live in submodules:
``callbacks.logger.SideBySideLogger``, ``callbacks.tracking``.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "SideBySideLogger": "callbacks.logger",
    "current_learning_rate": "callbacks.logger",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'callbacks' has no attribute {name!r}")


__all__ = list(_LAZY)
