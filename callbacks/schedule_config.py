"""Gin configurables that build the schedules and the plateau callback (no TensorFlow here).

Recipes select a schedule by name, ``train.schedule = 'warmup_cosine'``, and set its knobs in
epochs (``warmup_cosine.warmup_epochs = 5``); the runner passes the base rate
(``train.learning_rate``), the run's steps per epoch and its number of epochs, and the
epochs are turned into optimizer steps here. ``train.reduce_on_plateau = True`` adds
:class:`callbacks.plateau.PlateauScaler` configured by ``plateau.*``.
"""

from __future__ import annotations

from collections.abc import Sequence

import gin

from zoo.errors import ConfigError, unknown


def _steps(epochs: float, steps_per_epoch: int) -> int:
    return int(round(float(epochs) * steps_per_epoch))


def _check_run(steps_per_epoch: int, epochs: int) -> None:
    if steps_per_epoch < 1 or epochs < 1:
        raise ConfigError(
            f"A schedule needs at least one step per epoch and one epoch "
            f"(got steps_per_epoch={steps_per_epoch}, epochs={epochs})."
        )


@gin.configurable("warmup_cosine", module="callbacks")
def warmup_cosine(
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    warmup_epochs: float = 5,
    min_learning_rate: float = 0.0,
    warmup_start: float = 0.0,
    initial_epoch: int = 0,
):
    """Linear warm-up over ``warmup_epochs`` to ``learning_rate``, cosine to the floor at
    the last epoch."""
    from callbacks.schedules import WarmupCosine

    _check_run(steps_per_epoch, epochs)
    if not 0 <= warmup_epochs <= epochs:
        raise ConfigError(
            f"warmup_cosine.warmup_epochs ({warmup_epochs}) must lie between 0 and train.epochs "
            f"({epochs})."
        )
    return WarmupCosine(
        learning_rate,
        total_steps=epochs * steps_per_epoch,
        warmup_steps=_steps(warmup_epochs, steps_per_epoch),
        min_learning_rate=min_learning_rate,
        warmup_start=warmup_start,
        offset=initial_epoch * steps_per_epoch,
    )


@gin.configurable("cosine_restarts", module="callbacks")
def cosine_restarts(
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    first_period_epochs: float = 10,
    period_mult: float = 2.0,
    peak_mult: float = 1.0,
    min_learning_rate: float = 0.0,
    initial_epoch: int = 0,
):
    """SGDR: cosine periods of ``first_period_epochs``, each ``period_mult`` times longer."""
    from callbacks.schedules import CosineRestarts

    _check_run(steps_per_epoch, epochs)
    if first_period_epochs <= 0 or period_mult < 1:
        raise ConfigError(
            "cosine_restarts.first_period_epochs must be > 0 and cosine_restarts.period_mult >= 1."
        )
    return CosineRestarts(
        learning_rate,
        first_period=max(_steps(first_period_epochs, steps_per_epoch), 1),
        period_mult=period_mult,
        peak_mult=peak_mult,
        min_learning_rate=min_learning_rate,
        offset=initial_epoch * steps_per_epoch,
    )


@gin.configurable("step_decay", module="callbacks")
def step_decay(
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    boundaries: Sequence[float] = (),
    factor: float = 0.1,
    initial_epoch: int = 0,
):
    """Multiply the rate by ``factor`` at each epoch in ``boundaries`` (e.g. [91, 136])."""
    from callbacks.schedules import StepDecay

    _check_run(steps_per_epoch, epochs)
    if not boundaries:
        raise ConfigError(
            "step_decay.boundaries is empty: give the epochs to decay at, e.g. [30, 60]."
        )
    return StepDecay(
        learning_rate,
        boundaries=[_steps(b, steps_per_epoch) for b in boundaries],
        factor=factor,
        offset=initial_epoch * steps_per_epoch,
    )


@gin.configurable("exponential", module="callbacks")
def exponential(
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    decay_rate: float = 0.9,
    decay_epochs: float = 1,
    staircase: bool = False,
    min_learning_rate: float = 0.0,
    initial_epoch: int = 0,
):
    """Multiply the rate by ``decay_rate`` every ``decay_epochs`` (smoothly, or in steps)."""
    from callbacks.schedules import Exponential

    _check_run(steps_per_epoch, epochs)
    if decay_epochs <= 0:
        raise ConfigError(f"exponential.decay_epochs must be > 0, not {decay_epochs}.")
    return Exponential(
        learning_rate,
        decay_steps=max(_steps(decay_epochs, steps_per_epoch), 1),
        decay_rate=decay_rate,
        staircase=staircase,
        min_learning_rate=min_learning_rate,
        offset=initial_epoch * steps_per_epoch,
    )


@gin.configurable("one_cycle", module="callbacks")
def one_cycle(
    learning_rate: float,
    steps_per_epoch: int,
    epochs: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    anneal: str = "cos",
    initial_epoch: int = 0,
):
    """One cycle whose peak is ``learning_rate`` (a good peak: ``zoo find-lr``'s suggestion)."""
    from callbacks.schedules import OneCycle

    _check_run(steps_per_epoch, epochs)
    if anneal not in ("cos", "linear"):
        raise ConfigError(f"one_cycle.anneal must be 'cos' or 'linear', not {anneal!r}.")
    if not 0 < pct_start < 1:
        raise ConfigError(
            f"one_cycle.pct_start must lie strictly between 0 and 1, not {pct_start}."
        )
    return OneCycle(
        learning_rate,
        total_steps=max(epochs * steps_per_epoch, 2),
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
        anneal=anneal,
        offset=initial_epoch * steps_per_epoch,
    )


@gin.configurable("constant_schedule", module="callbacks")
def constant_schedule(
    learning_rate: float, steps_per_epoch: int, epochs: int, initial_epoch: int = 0
):
    """The base rate, unchanged (a schedule that plateau reduction can scale)."""
    from callbacks.schedules import Constant

    return Constant(learning_rate, offset=initial_epoch * steps_per_epoch)


SCHEDULES = {
    "warmup_cosine": warmup_cosine,
    "cosine_restarts": cosine_restarts,
    "step_decay": step_decay,
    "exponential": exponential,
    "one_cycle": one_cycle,
    "constant": constant_schedule,
}


def make_schedule(name: str, learning_rate: float, steps_per_epoch: int, epochs: int, **kwargs):
    """The schedule ``name`` for a run of ``epochs`` x ``steps_per_epoch`` peaking near
    ``learning_rate`` (its other knobs come from gin, or ``kwargs``)."""
    if name not in SCHEDULES:
        raise unknown("schedule", name, SCHEDULES)
    return SCHEDULES[name](
        learning_rate=float(learning_rate),
        steps_per_epoch=int(steps_per_epoch),
        epochs=int(epochs),
        **kwargs,
    )


@gin.configurable("plateau", module="callbacks")
def plateau(
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
    """The plateau callback: multiply the schedule by ``factor`` after ``patience`` epochs
    without an improvement of ``min_delta``, wait ``cooldown`` epochs, never go below
    ``min_factor`` nor take the current rate below ``min_learning_rate``."""
    from callbacks.plateau import PlateauScaler

    return PlateauScaler(
        monitor=monitor,
        factor=factor,
        patience=patience,
        cooldown=cooldown,
        min_delta=min_delta,
        min_factor=min_factor,
        min_learning_rate=min_learning_rate,
        mode=mode,
        verbose=verbose,
    )
