"""Step-based learning-rate schedules that save with the model and compose with plateau reduction.

Every schedule here is a ``keras.optimizers.schedules.LearningRateSchedule`` registered as
Keras-serialisable (package ``zoo``): a model compiled with one saves to ``.keras`` and loads
back with the same schedule. The value at optimizer step ``s`` is::

    scale * f(s + offset)

``f`` is the schedule's formula. ``offset`` (steps) moves the position forward: a run whose
optimizer was rebuilt with its step counter at 0 (keras-tuner's Hyperband continuing a trial
at epoch ``k``) sets ``offset = k * steps_per_epoch`` and resumes the warm-up where it stopped;
a run resumed from ``checkpoints/last.keras`` keeps its optimizer's step count and needs no
offset. ``scale`` is the factor :class:`callbacks.plateau.PlateauScaler` lowers when the
monitored metric stops improving. Both live in variables (so compiled training steps see
every change) and in ``get_config`` (so a saved model keeps them).

References: linear warm-up, Goyal et al. 2017, "Accurate, Large Minibatch SGD" (sec. 2.2);
cosine annealing and warm restarts, Loshchilov & Hutter 2017, "SGDR" (eq. 5); one-cycle,
Smith 2018, "A disciplined approach to neural network hyper-parameters" and Smith & Topin
2019, "Super-convergence"; step decay, He et al. 2016 (ResNet on CIFAR-10, x0.1 at 32k and
48k iterations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from zoo._compat import learning_rate_of

PACKAGE = "zoo"


class ZooSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Base class: ``scale * value(step + offset)`` with ``scale`` and ``offset`` in variables."""

    def __init__(self, scale: float = 1.0, offset: int = 0, name: str | None = None):
        super().__init__()
        self.name = name or type(self).__name__
        self._scale = keras.Variable(
            float(scale), dtype="float32", trainable=False, autocast=False, name="lr_scale"
        )
        self._offset = keras.Variable(
            int(offset), dtype="int64", trainable=False, autocast=False, name="lr_offset"
        )

    # -- the factor and the offset ---------------------------------------------------------
    @property
    def scale(self) -> float:
        """The plateau factor the formula is multiplied by (1.0 until a plateau)."""
        return float(keras.ops.convert_to_numpy(self._scale))

    @scale.setter
    def scale(self, value: float) -> None:
        self._scale.assign(float(value))

    @property
    def offset(self) -> int:
        """Steps added to the optimizer's step count to get the schedule's position."""
        return int(keras.ops.convert_to_numpy(self._offset))

    @offset.setter
    def offset(self, value: int) -> None:
        self._offset.assign(int(value))

    # -- Keras protocol -------------------------------------------------------------------
    def value(self, step):
        """The unscaled rate at position ``step`` (a float32 tensor)."""
        raise NotImplementedError

    def __call__(self, step):
        position = ops.cast(ops.cast(step, "int64") + self._offset, "float32")
        return ops.cast(self.value(position), "float32") * self._scale

    def own_config(self) -> dict[str, Any]:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**self.own_config(), "scale": self.scale, "offset": self.offset, "name": self.name}


def _clip01(x):
    return ops.clip(x, 0.0, 1.0)


def _cosine(t):
    """0.5 * (1 + cos(pi t)): 1 at t = 0, 0 at t = 1."""
    return 0.5 * (1.0 + ops.cos(math.pi * t))


@keras.saving.register_keras_serializable(package=PACKAGE)
class Constant(ZooSchedule):
    """A constant rate: lets plateau reduction scale a run that has no schedule."""

    def __init__(self, learning_rate: float, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate = float(learning_rate)

    def value(self, step):
        return ops.zeros_like(step) + self.learning_rate

    def own_config(self):
        return {"learning_rate": self.learning_rate}


@keras.saving.register_keras_serializable(package=PACKAGE)
class WarmupCosine(ZooSchedule):
    """Linear warm-up (Goyal et al. 2017) from ``warmup_start`` to ``learning_rate`` over
    ``warmup_steps``, then cosine decay (Loshchilov & Hutter 2017, eq. 5 without restarts)
    to ``min_learning_rate`` at ``total_steps``; ``min_learning_rate`` afterwards."""

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        min_learning_rate: float = 0.0,
        warmup_start: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"WarmupCosine needs 0 <= warmup_steps ({warmup_steps}) <= total_steps "
                f"({total_steps}) and total_steps >= 1."
            )
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_learning_rate = float(min_learning_rate)
        self.warmup_start = float(warmup_start)

    def value(self, step):
        peak, floor = self.learning_rate, self.min_learning_rate
        decay_steps = max(self.total_steps - self.warmup_steps, 1)
        t = _clip01((step - self.warmup_steps) / decay_steps)
        decayed = floor + (peak - floor) * _cosine(t)
        if self.warmup_steps == 0:
            return decayed
        warm = self.warmup_start + (peak - self.warmup_start) * step / self.warmup_steps
        return ops.where(step < self.warmup_steps, warm, decayed)

    def own_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "min_learning_rate": self.min_learning_rate,
            "warmup_start": self.warmup_start,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class CosineRestarts(ZooSchedule):
    """SGDR (Loshchilov & Hutter 2017, eq. 5): cosine from the peak to ``min_learning_rate``
    over a period of ``first_period`` steps, then restart; each period is ``period_mult``
    times longer and each peak ``peak_mult`` times the previous one."""

    def __init__(
        self,
        learning_rate: float,
        first_period: int,
        period_mult: float = 2.0,
        peak_mult: float = 1.0,
        min_learning_rate: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if first_period < 1 or period_mult < 1:
            raise ValueError("CosineRestarts needs first_period >= 1 and period_mult >= 1.")
        self.learning_rate = float(learning_rate)
        self.first_period = int(first_period)
        self.period_mult = float(period_mult)
        self.peak_mult = float(peak_mult)
        self.min_learning_rate = float(min_learning_rate)

    def _start(self, i):
        """First step of period ``i`` (float tensor)."""
        if self.period_mult == 1.0:
            return self.first_period * i
        m = self.period_mult
        return self.first_period * (1.0 - ops.power(m, i)) / (1.0 - m)

    def value(self, step):
        t0, m = float(self.first_period), self.period_mult
        if m == 1.0:
            i = ops.floor(step / t0)
        else:
            i = ops.floor(ops.log(1.0 - step / t0 * (1.0 - m)) / math.log(m))
        # float rounding at a period boundary: move i so that start(i) <= step < start(i + 1)
        i = ops.where(self._start(i) > step, i - 1.0, i)
        i = ops.where(self._start(i + 1.0) <= step, i + 1.0, i)
        period = t0 * ops.power(m, i)
        t = (step - self._start(i)) / period
        peak = self.learning_rate * ops.power(self.peak_mult, i)
        return self.min_learning_rate + (peak - self.min_learning_rate) * _cosine(t)

    def own_config(self):
        return {
            "learning_rate": self.learning_rate,
            "first_period": self.first_period,
            "period_mult": self.period_mult,
            "peak_mult": self.peak_mult,
            "min_learning_rate": self.min_learning_rate,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class StepDecay(ZooSchedule):
    """``learning_rate * factor ** k`` where ``k`` counts the boundaries (steps) passed."""

    def __init__(
        self, learning_rate: float, boundaries: Sequence[int], factor: float = 0.1, **kwargs
    ):
        super().__init__(**kwargs)
        self.learning_rate = float(learning_rate)
        self.boundaries = sorted(int(b) for b in boundaries)
        self.factor = float(factor)

    def value(self, step):
        passed = ops.zeros_like(step)
        for b in self.boundaries:
            passed = passed + ops.cast(step >= b, "float32")
        return self.learning_rate * ops.power(self.factor, passed)

    def own_config(self):
        return {
            "learning_rate": self.learning_rate,
            "boundaries": list(self.boundaries),
            "factor": self.factor,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class Exponential(ZooSchedule):
    """``max(learning_rate * decay_rate ** (step / decay_steps), min_learning_rate)``;
    with ``staircase`` the exponent is rounded down (decay once per ``decay_steps``)."""

    def __init__(
        self,
        learning_rate: float,
        decay_steps: int,
        decay_rate: float = 0.9,
        staircase: bool = False,
        min_learning_rate: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if decay_steps < 1:
            raise ValueError(f"Exponential needs decay_steps >= 1, not {decay_steps}.")
        self.learning_rate = float(learning_rate)
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)
        self.min_learning_rate = float(min_learning_rate)

    def value(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = ops.floor(p)
        return ops.maximum(
            self.learning_rate * ops.power(self.decay_rate, p), self.min_learning_rate
        )

    def own_config(self):
        return {
            "learning_rate": self.learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "min_learning_rate": self.min_learning_rate,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class OneCycle(ZooSchedule):
    """One cycle (Smith 2018; Smith & Topin 2019): from ``learning_rate / div_factor`` up to
    ``learning_rate`` over the first ``pct_start`` of ``total_steps``, then down to
    ``learning_rate / (div_factor * final_div_factor)`` at the end; ``anneal`` 'cos' (the
    fastai / PyTorch default) or 'linear' (the papers' triangle)."""

    def __init__(
        self,
        learning_rate: float,
        total_steps: int,
        pct_start: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        anneal: str = "cos",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if anneal not in ("cos", "linear"):
            raise ValueError(f"OneCycle anneal must be 'cos' or 'linear', not {anneal!r}.")
        if total_steps < 2 or not 0.0 < pct_start < 1.0:
            raise ValueError("OneCycle needs total_steps >= 2 and 0 < pct_start < 1.")
        self.learning_rate = float(learning_rate)
        self.total_steps = int(total_steps)
        self.pct_start = float(pct_start)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)
        self.anneal = anneal

    @property
    def up_steps(self) -> float:
        return self.pct_start * self.total_steps

    def _interp(self, start: float, end: float, t):
        if self.anneal == "cos":
            return end + (start - end) * _cosine(t)
        return start + (end - start) * t

    def value(self, step):
        peak = self.learning_rate
        low = peak / self.div_factor
        final = low / self.final_div_factor
        up = self._interp(low, peak, _clip01(step / self.up_steps))
        down_t = _clip01((step - self.up_steps) / (self.total_steps - self.up_steps))
        down = self._interp(peak, final, down_t)
        return ops.where(step < self.up_steps, up, down)

    def own_config(self):
        return {
            "learning_rate": self.learning_rate,
            "total_steps": self.total_steps,
            "pct_start": self.pct_start,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "anneal": self.anneal,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class Scaled(ZooSchedule):
    """Any other ``LearningRateSchedule`` times the plateau factor (offset applied too)."""

    def __init__(self, schedule, **kwargs):
        super().__init__(**kwargs)
        if isinstance(schedule, dict):
            schedule = keras.optimizers.schedules.deserialize(schedule)
        self.schedule = schedule

    def value(self, step):
        return self.schedule(step)

    def own_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule)}


def scalable(optimizer) -> ZooSchedule:
    """The optimizer's learning rate as a :class:`ZooSchedule`, installing one if needed.

    A float rate becomes :class:`Constant`, another schedule is wrapped in :class:`Scaled`.
    Install it before the first ``fit``: Keras compiles the training step on first use.
    """
    current = learning_rate_of(optimizer)
    if isinstance(current, ZooSchedule):
        return current
    if isinstance(current, keras.optimizers.schedules.LearningRateSchedule):
        schedule: ZooSchedule = Scaled(current)
    else:
        schedule = Constant(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    optimizer.learning_rate = schedule
    return schedule


def effective_learning_rate(optimizer) -> float:
    """The rate the optimizer applies at its current step (schedule x plateau factor)."""
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class SchedulePosition(keras.callbacks.Callback):
    """Align a :class:`ZooSchedule` with the epoch a ``fit`` starts at.

    When ``fit(initial_epoch=k)`` runs with an optimizer whose step counter is behind
    ``k * steps_per_epoch`` (keras-tuner's Hyperband rebuilds the optimizer when it continues
    a trial), the schedule's offset is set so that its position is ``k * steps_per_epoch``.
    A resumed run whose optimizer kept its step count is left alone.
    """

    def __init__(self, steps_per_epoch: int):
        super().__init__()
        self.steps_per_epoch = int(steps_per_epoch)
        self._checked = False

    def on_train_begin(self, logs=None):
        self._checked = False

    def on_epoch_begin(self, epoch, logs=None):
        if self._checked:
            return
        self._checked = True
        schedule = learning_rate_of(self.model.optimizer)
        if not isinstance(schedule, ZooSchedule):
            return
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        wanted = epoch * self.steps_per_epoch
        if step + schedule.offset < wanted:
            schedule.offset = wanted - step
