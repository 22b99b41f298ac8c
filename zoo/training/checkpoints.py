"""Checkpoints written whole: a kill during a save leaves the previous file intact.

``last.keras`` is saved after every epoch, and ``last.json`` then says how many epochs it
holds (what ``--resume`` continues from); ``best.keras`` when the monitored value improves.
Each file is written under a temporary name and renamed over the old one (``os.replace`` is
atomic on POSIX filesystems).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

import keras

from zoo.training.rundir import write_json


def save_model(model, path: Path) -> None:
    """``model.save(path)``, atomically."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


def better(monitor: str) -> Callable[[float, float], bool]:
    """``new, old -> bool``: higher is better for accuracies and AUC, lower for the rest."""
    if any(word in monitor for word in ("acc", "auc", "precision", "recall", "f1")):
        return lambda new, old: new > old
    return lambda new, old: new < old


class EpochCheckpoint(keras.callbacks.Callback):
    """Save ``last.keras`` every epoch and ``best.keras`` on improvement of ``monitor``.

    ``skip`` (a callable) vetoes saving, e.g. after the loss became NaN. ``best`` is the
    best value so far when a resumed run continues.
    """

    def __init__(self, folder: Path, monitor: str, skip=None, best: float | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.monitor = monitor
        self.skip = skip or (lambda: False)
        self.best = best
        self._better = better(monitor)

    def on_epoch_end(self, epoch, logs=None):
        if self.skip():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.folder / "last.keras")
        write_json(self.folder / "last.json", {"epochs": epoch + 1})
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self.best is None or self._better(float(value), self.best):
            self.best = float(value)
            save_model(self.model, self.folder / "best.keras")


def best_so_far(history: dict[str, list[float]], monitor: str) -> float | None:
    """The best value of ``monitor`` in a resumed run's history."""
    values = [v for v in history.get(monitor, []) if math.isfinite(v)]
    if not values:
        return None
    return max(values) if better(monitor)(1.0, 0.0) else min(values)
