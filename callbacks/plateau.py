"""Reduce on plateau that composes with any learning-rate schedule.

Keras' ``ReduceLROnPlateau`` assigns ``optimizer.learning_rate``, which raises TypeError when
the rate is a schedule. :class:`PlateauScaler` instead lowers the factor a
:class:`callbacks.schedules.ZooSchedule` multiplies its formula by: the schedule keeps its
shape (warm-up, cosine...), only scaled down. The factor is part of the schedule's config, so
it is saved with the model and a resumed run keeps it. A float rate or a Keras schedule is
wrapped (``Constant`` / ``Scaled``) when training begins.
"""

from __future__ import annotations

import math

import keras

from zoo.errors import ConfigError


class PlateauScaler(keras.callbacks.Callback):
    """Multiply the schedule by ``factor`` when ``monitor`` stops improving.

    After ``patience`` epochs without an improvement larger than ``min_delta`` the factor is
    multiplied by ``factor``; the ``cooldown`` epochs after a reduction do not count towards
    the next one (an improvement during them still resets the count). The factor never
    goes below ``min_factor``, and a reduction never takes the current rate below
    ``min_learning_rate``. Adds ``lr_factor`` to each epoch's logs.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 5,
        cooldown: int = 0,
        min_delta: float = 1e-4,
        min_factor: float = 0.0,
        min_learning_rate: float = 0.0,
        mode: str = "auto",
        verbose: int = 1,
    ):
        super().__init__()
        if not 0.0 < factor < 1.0:
            raise ConfigError(f"plateau.factor must lie strictly between 0 and 1, not {factor}.")
        if patience < 0 or cooldown < 0:
            raise ConfigError("plateau.patience and plateau.cooldown must be >= 0.")
        if mode not in ("auto", "min", "max"):
            raise ConfigError(f"plateau.mode must be 'auto', 'min' or 'max', not {mode!r}.")
        self.monitor = monitor
        self.factor = float(factor)
        self.patience = int(patience)
        self.cooldown = int(cooldown)
        self.min_delta = abs(float(min_delta))
        self.min_factor = float(min_factor)
        self.min_learning_rate = float(min_learning_rate)
        if mode == "auto":
            mode = "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
        self.mode = mode
        self.verbose = verbose
        self.reductions: list[tuple[int, float]] = []
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    @property
    def schedule(self):
        from callbacks.schedules import scalable

        return scalable(self.model.optimizer)

    def on_train_begin(self, logs=None):
        self._reset()
        self.schedule  # noqa: B018 -- install a scalable schedule before the first step

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        schedule = self.schedule
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            logs["lr_factor"] = schedule.scale
            return
        value = float(value)
        in_cooldown = self.cooldown_counter > 0
        if in_cooldown:
            self.cooldown_counter -= 1
        if self._improved(value):
            self.best = value
            self.wait = 0
        elif not in_cooldown:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch, schedule)
                self.cooldown_counter = self.cooldown
                self.wait = 0
        logs["lr_factor"] = schedule.scale

    def _reduce(self, epoch: int, schedule) -> None:
        from callbacks.schedules import effective_learning_rate

        old = schedule.scale
        new = max(old * self.factor, self.min_factor)
        current = effective_learning_rate(self.model.optimizer)
        if self.min_learning_rate > 0 and current > 0:
            new = max(new, old * self.min_learning_rate / current)
        if new < old * (1.0 - 1e-6):  # the factor is stored in float32
            schedule.scale = new
            self.reductions.append((epoch, new))
            if self.verbose:
                print(
                    f"epoch {epoch + 1}: {self.monitor} has not improved for {self.patience} "
                    f"epochs; learning-rate factor {old:.4g} -> {new:.4g}",
                    flush=True,
                )
