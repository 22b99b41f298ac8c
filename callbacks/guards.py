"""Callbacks that stop a run for a reason and remember the reason."""

from __future__ import annotations

import math

import keras


class NaNGuard(keras.callbacks.Callback):
    """Stop training when the loss becomes NaN or infinite; ``reason`` says where."""

    def __init__(self):
        super().__init__()
        self.reason: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.reason = f"loss became {float(loss)} at epoch {self._epoch}, batch {batch}"
            self.model.stop_training = True
