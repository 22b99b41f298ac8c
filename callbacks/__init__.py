"""Training callbacks: the side-by-side logger, learning-rate schedules, plateau reduction,
the NaN stop and the learning-rate range test. This package imports nothing from ``zoo``
but ``zoo.errors``; the training path (``zoo.training``) puts the callbacks together.

Importing this package is cheap (no TensorFlow); the Keras callbacks live in submodules:
``callbacks.logger.SideBySideLogger``, ``callbacks.schedules``,
``callbacks.plateau.PlateauScaler``, ``callbacks.lr_finder``; the gin configurables that build
schedules (``warmup_cosine``, ``one_cycle``, ``plateau``...) are in ``callbacks.schedule_config``.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "SideBySideLogger": "callbacks.logger",
    "current_learning_rate": "callbacks.logger",
    "WarmupCosine": "callbacks.schedules",
    "CosineRestarts": "callbacks.schedules",
    "StepDecay": "callbacks.schedules",
    "Exponential": "callbacks.schedules",
    "OneCycle": "callbacks.schedules",
    "Constant": "callbacks.schedules",
    "Scaled": "callbacks.schedules",
    "SchedulePosition": "callbacks.schedules",
    "PlateauScaler": "callbacks.plateau",
    "make_schedule": "callbacks.schedule_config",
    "lr_range_test": "callbacks.lr_finder",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'callbacks' has no attribute {name!r}")


__all__ = list(_LAZY)
