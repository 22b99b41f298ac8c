"""Phase 5 of a run: the fit phases and the callbacks they train with.

Phase 1 trains ``train.epochs`` epochs (or the budget a tuner gives). A transfer run with
``transfer.fine_tune_epochs > 0`` then unfreezes its base and trains a second phase with the
same callbacks, continuing the epoch count, at ``transfer.fine_tune_learning_rate`` (after a
warm-up, with layer-wise rates, as the ``transfer.*`` knobs say). Such a run logs the per-epoch
metric ``phase`` (1, then 2) and the params ``phase.2.start_epoch`` and the trainable / frozen
parameter counts of each phase, in MLflow and TensorBoard alike.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

from zoo.tracking.rundir import RunDir, read_history
from zoo.training.settings import RunOptions
from zoo.training.setup import Setup
from zoo.training.transfer import TransferSettings


@dataclass
class FitOutcome:
    """What the fit phases did: the epochs reached, why they stopped early if they did."""

    failure: str | None = None
    stopped_early: bool = False
    keras_history: dict[str, list[float]] = field(default_factory=dict)


def monitor_for(setup: Setup) -> str:
    """``train.checkpoint_monitor``, or ``loss`` when there is no validation split."""
    monitor = setup.settings.checkpoint_monitor
    if setup.data.validation is None and monitor.startswith("val_"):
        return "loss"
    return monitor


@dataclass(frozen=True)
class FitCallbacks:
    """The callbacks of a fit in the order they run, and by name the ones the fit phases
    speak to: the logger (phase-2 params), the NaN stop (why a fit failed), the checkpoint
    (the averaged weights), the phase marker and the schedule position (phase 2)."""

    ordered: tuple
    logger: Any
    nan_guard: Any
    checkpoint: Any = None  # zoo.training.checkpoints.EpochCheckpoint
    phase: Any = None  # callbacks.phases.PhaseMarker of a run with a fine-tuning phase
    schedule_position: Any = None  # callbacks.schedules.SchedulePosition

    def phase_two(self) -> FitCallbacks:
        """Phase 2's callbacks: its optimizer counts its steps from the phase's start, so the
        callback that moves a schedule to the fit's first epoch (it would skip the warm-up)
        is left out; the phase marker says 2."""
        if self.phase is not None:
            self.phase.phase = 2
        ordered = tuple(cb for cb in self.ordered if cb is not self.schedule_position)
        return dataclasses.replace(self, ordered=ordered, schedule_position=None)


def make_callbacks(
    setup: Setup, run_dir: RunDir | None, logger, options: RunOptions, guard
) -> FitCallbacks:
    """The callbacks of every fit, in the order they must run at an epoch's end:
    batch-norm averaging under a strategy, schedule, history row, checkpoint, logger, NaN stop,
    the caller's, early stopping, and last the safe point where a deferred signal stops the run.
    A hard kill between two of them leaves ``history.csv`` at or past the checkpoint (resume
    cuts it back) and the trackers at or behind it (resume fills them in from ``history.csv``)."""
    import keras

    from callbacks.guards import NaNGuard
    from zoo.training import distribute
    from zoo.training.checkpoints import EpochCheckpoint, best_so_far

    nan_guard = NaNGuard()
    monitor = monitor_for(setup)
    phase = checkpoint = None
    if setup.fine_tune:
        from callbacks.phases import PhaseMarker

        phase = PhaseMarker()
    cbs: list[Any] = [phase] if phase is not None else []
    cbs += [*distribute.callbacks(setup.distribution), *setup.schedule_callbacks]
    if run_dir is not None:
        cbs.append(keras.callbacks.CSVLogger(str(run_dir.history), append=True))
    if run_dir is not None and options.checkpoints:
        best = best_so_far(read_history(run_dir.history), monitor) if run_dir.resumed else None
        checkpoint = EpochCheckpoint(
            run_dir, monitor, skip=lambda: nan_guard.reason is not None, best=best
        )
        cbs.append(checkpoint)
    cbs += [logger, nan_guard, *options.extra_callbacks]
    if setup.settings.early_stopping_patience:
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                patience=setup.settings.early_stopping_patience,
                restore_best_weights=True,
            )
        )
    if guard is not None:
        cbs.append(guard.callback())
    return FitCallbacks(
        ordered=tuple(cbs),
        logger=logger,
        nan_guard=nan_guard,
        checkpoint=checkpoint,
        phase=phase,
        schedule_position=setup.schedule_position,
    )


def fit_verbosity(verbose: int | str) -> int:
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(verbose)


def fit_phases(setup: Setup, callbacks: FitCallbacks, options: RunOptions) -> FitOutcome:
    """Train phase 1, then the fine-tuning phase of a transfer run; return what happened."""
    epochs = options.epochs or setup.settings.epochs
    start = setup.initial_epoch if options.initial_epoch is None else options.initial_epoch
    outcome = FitOutcome()
    nan_guard = callbacks.nan_guard
    if start >= epochs and not setup.fine_tune:
        print(f"already trained for {start} epochs (train.epochs = {epochs}).", flush=True)
    elif start < epochs:
        _fit(setup, callbacks, options, start, epochs, outcome)
    fine = setup.fine_tune
    if fine and not nan_guard.reason and not setup.net.stop_training:
        total = epochs + fine.fine_tune_epochs
        if max(start, epochs) < total:
            if start <= epochs:  # a resumed run past this point loaded the phase-2 model
                _enter_fine_tuning(setup, fine, callbacks, epochs)
            callbacks = callbacks.phase_two()
            _fit(setup, callbacks, options, max(start, epochs), total, outcome)
    _finalize_average(setup, callbacks)
    outcome.failure = nan_guard.reason
    outcome.stopped_early = bool(setup.net.stop_training) and not nan_guard.reason
    return outcome


def _fit(
    setup: Setup, callbacks: FitCallbacks, options: RunOptions, start: int, end: int, outcome
) -> None:
    if options.announce:
        print(f"training epochs {start + 1}-{end}", flush=True)
    history = setup.net.fit(
        setup.data.train,
        validation_data=setup.data.validation,
        epochs=end,
        initial_epoch=start,
        steps_per_epoch=setup.settings.steps_per_epoch,
        callbacks=list(callbacks.ordered),
        verbose=fit_verbosity(options.verbose),
        shuffle=False,
    )
    for key, values in history.history.items():
        outcome.keras_history.setdefault(key, []).extend(float(v) for v in values)


def _enter_fine_tuning(
    setup: Setup, fine: TransferSettings, callbacks: FitCallbacks, epochs: int
) -> None:
    """Unfreeze, compile with the phase-2 optimizer, and log the boundary."""
    from zoo.models.stats import count_params
    from zoo.training import transfer
    from zoo.training.optimizers import compile_model

    transfer.unfreeze_for_fine_tuning(setup.net, fine)
    rates = transfer.layer_rates(setup.net, fine.layer_decay) if fine.layer_decay < 1 else {}
    compile_model(
        setup.net, setup.settings, _fine_tune_rate(setup, fine), setup.loss_name, layer_rates=rates
    )
    trainable, frozen = count_params(setup.net)
    callbacks.logger.log_params(
        {
            "phase.2.start_epoch": epochs + 1,
            "phase.2.trainable_params": trainable,
            "phase.2.frozen_params": frozen,
        }
    )
    print(
        f"fine-tuning for {fine.fine_tune_epochs} epochs from epoch {epochs + 1}: "
        f"{transfer.trainable_report(setup.net)}",
        flush=True,
    )


def _fine_tune_rate(setup: Setup, fine: TransferSettings):
    """``transfer.fine_tune_learning_rate``, reached by a linear warm-up over
    ``transfer.fine_tune_warmup_epochs`` (Goyal et al. 2017) when it is set."""
    from zoo.training.setup import learning_rate

    steps, epochs = setup.steps_per_epoch, fine.fine_tune_epochs
    peak = fine.fine_tune_learning_rate
    if not fine.fine_tune_warmup_epochs:
        return learning_rate(setup.settings, peak, steps, epochs)
    from callbacks.schedules import WarmupCosine

    return WarmupCosine(  # min = peak: constant after the warm-up
        peak, epochs * steps, fine.fine_tune_warmup_epochs * steps, min_learning_rate=peak
    )


def _finalize_average(setup: Setup, callbacks: FitCallbacks) -> None:
    """With ``optimizer.ema_momentum``, fit() has put the averaged weights in place: they
    are what gets tested and saved as ``last.keras``."""
    from zoo.training.checkpoints import save_model

    if not getattr(setup.net.optimizer, "use_ema", False) or callbacks.nan_guard.reason:
        return
    if callbacks.checkpoint is not None:
        save_model(setup.net, callbacks.checkpoint.files.last)
    print("weights: the exponential moving average (optimizer.ema_momentum)", flush=True)
