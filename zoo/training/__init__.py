"""Training: one path for every run, trial, fold, learning-rate sweep and transfer phase.

The phases, each in the module its name says (see ``docs/architecture.md``):

1. ``settings``  gin read once: :class:`Settings` (``train.*``, ``transfer.*``,
   ``distribute.*``, each validated), and the :class:`RunOptions` of one invocation;
2. ``rundir``    the run directory: new, or found again for ``--resume``;
3. ``setup``     precision, seed, data, model, optimizer and schedule, loss, metrics;
4. ``track``     the MLflow run and the TensorBoard log, side by side;
5. ``fit``       the fit phases (and fine-tuning as phase 2) with their callbacks;
6. ``record``    test evaluation, ``summary.json``, artifacts, the printed commands.

``stops`` turns SIGINT, SIGTERM and SIGHUP into a KILLED run, in one place; ``run`` reads
the phases top-down; ``crossval`` and ``lr_sweep`` are runs with another budget.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "train": "zoo.training.api",
    "run": "zoo.training.run",
    "execute": "zoo.training.run",
    "prepare": "zoo.training.setup",
    "RunResult": "zoo.training.record",
    "Settings": "zoo.training.settings",
    "read_settings": "zoo.training.settings",
    "TrainSettings": "zoo.training.settings",
    "RunOptions": "zoo.training.settings",
    "current_settings": "zoo.training.settings",
    "RunStopped": "zoo.training.stops",
    "cross_validate": "zoo.training.crossval",
    "find_lr": "zoo.training.lr_sweep",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo.training' has no attribute {name!r}")


__all__ = list(_LAZY)
