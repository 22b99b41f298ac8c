"""Checkpoints written whole: a kill during a save leaves the previous file intact.

``last.keras`` is saved after every epoch with the number of epochs it holds inside it (the
member ``zoo.json`` of the zip, which Keras ignores): what ``--resume`` continues from, and
a kill between two files cannot make them disagree. The same member holds the states of the
model's random generators (dropout and the like), which Keras leaves out of the file: a
resumed run draws the masks the uninterrupted run would have drawn. ``last.json`` says the same for readers;
``best.keras`` is saved when the monitored value improves. Each file is written under a
temporary name and renamed over the old one (``os.replace`` is atomic on POSIX filesystems).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from zoo.tracking.rundir import STATE_MEMBER, RunDir, write_json


def random_states(model) -> list:
    """The model's random-generator variables: in ``model.variables`` but not its weights
    (Keras documents ``weights`` as the variables without metric state and random seeds)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def save_model(model, path: Path, epochs: int | None = None) -> None:
    """``model.save(path)``, atomically; with ``epochs``, the file says how many it holds,
    and the states of the model's random generators."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    model.save(tmp)
    if epochs is not None:
        state = {
            "epochs": int(epochs),
            "random_states": [np.asarray(v).tolist() for v in random_states(model)],
        }
        with zipfile.ZipFile(tmp, "a") as archive:
            archive.writestr(STATE_MEMBER, json.dumps(state))
    os.replace(tmp, path)


def restore_random_states(model, path: Path) -> None:
    """Give ``model`` the random-generator states saved with checkpoint ``path`` (none for a
    file written without them, or by a model whose generators differ)."""
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read(STATE_MEMBER)).get("random_states")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return
    variables = random_states(model)
    if not saved or len(saved) != len(variables):
        return
    for variable, value in zip(variables, saved, strict=True):
        if tuple(variable.shape) == np.shape(value):
            variable.assign(np.asarray(value, dtype=variable.dtype))


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

    def __init__(self, files: RunDir, monitor: str, skip=None, best: float | None = None):
        super().__init__()
        self.files = files
        self.monitor = monitor
        self.skip = skip or (lambda: False)
        self.best = best
        self._better = better(monitor)

    def on_epoch_end(self, epoch, logs=None):
        if self.skip():
            return
        self.files.checkpoints.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.files.last, epochs=epoch + 1)
        write_json(self.files.last_state, {"epochs": epoch + 1})
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self.best is None or self._better(float(value), self.best):
            self.best = float(value)
            save_model(self.model, self.files.best)


def best_so_far(history: dict[str, list[float]], monitor: str) -> float | None:
    """The best value of ``monitor`` in a resumed run's history."""
    values = [v for v in history.get(monitor, []) if math.isfinite(v)]
    if not values:
        return None
    return max(values) if better(monitor)(1.0, 0.0) else min(values)
