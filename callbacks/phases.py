"""The phase of a two-phase (transfer) run as a per-epoch metric: ``phase`` = 1, then 2.

Put first among a fit's callbacks: it adds ``phase`` to the epoch's logs, so the history
row, TensorBoard and MLflow all get it at the same step as the other metrics.
"""

from __future__ import annotations

import keras


class PhaseMarker(keras.callbacks.Callback):
    """Adds ``logs['phase']``; the fit phases set :attr:`phase` when a phase begins."""

    def __init__(self, phase: int = 1):
        super().__init__()
        self.phase = int(phase)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["phase"] = float(self.phase)
