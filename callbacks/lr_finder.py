"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks", sec. 3.3; Smith 2018, sec. 4.1): ``zoo find-lr RECIPE``.

Train for a few hundred steps while the rate grows exponentially from ``min_lr`` to
``max_lr``; record each batch's loss, smooth it with a bias-corrected exponential moving
average, stop when the smoothed loss exceeds ``diverge`` times its minimum (or is NaN). The
suggested rate is where the smoothed loss falls fastest against log10(rate), between the
first ``skip_start`` steps and the minimum of the smoothed loss. It is a good constant rate
and a good peak for ``warmup_cosine`` or ``one_cycle``.

This module holds the sweep itself; ``zoo.training.lr_sweep`` runs it on a recipe's setup.
Results go to ``runs/<experiment>/<name>/`` (``lr_finder.csv``, ``lr_finder.png``,
``summary.json``), to TensorBoard (scalars ``learning_rate``, ``loss``, ``smoothed_loss`` at
step = sweep step, the plot as an image) and to one MLflow run of the same name (the same
metrics, ``suggested_learning_rate``, the plot and the CSV as artifacts).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo._compat import learning_rate_of
from zoo.errors import ConfigError


@dataclass
class LRFinderResult:
    """One sweep: rates, raw and smoothed losses, the suggestion and where it was written."""

    learning_rates: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float | None
    min_loss_learning_rate: float | None
    diverged: bool
    seconds: float = 0.0
    run_dir: Path | None = None
    plot: Path | None = None
    mlflow_run_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def sweep_rates(min_lr: float, max_lr: float, steps: int) -> list[float]:
    """``steps`` rates from ``min_lr`` to ``max_lr``, equally spaced in log scale."""
    if not 0 < min_lr < max_lr:
        raise ConfigError(f"The sweep needs 0 < min_lr < max_lr (got {min_lr} and {max_lr}).")
    if steps < 2:
        raise ConfigError(f"The sweep needs at least 2 steps, not {steps}.")
    ratio = max_lr / min_lr
    return [min_lr * ratio ** (i / (steps - 1)) for i in range(steps)]


def smooth(losses: Sequence[float], beta: float = 0.98) -> list[float]:
    """Exponential moving average with bias correction: ``avg_i / (1 - beta**(i+1))``."""
    out, avg = [], 0.0
    for i, loss in enumerate(losses):
        avg = beta * avg + (1.0 - beta) * loss
        out.append(avg / (1.0 - beta ** (i + 1)))
    return out


def suggest(
    learning_rates: Sequence[float],
    smoothed: Sequence[float],
    skip_start: int = 10,
    span: int | None = None,
) -> tuple[float | None, float | None]:
    """(steepest-descent rate, rate at the minimum of the smoothed loss).

    The slope at step ``i`` is the central difference of the smoothed loss over
    ``[i - span, i + span]`` against log10(rate) (``span`` defaults to a twentieth of the
    sweep, so that batch-to-batch noise does not win); its minimum is searched from
    ``skip_start + span`` (no difference reaches back into the first, noisiest
    ``skip_start`` steps) to the minimum of the smoothed loss after those steps (after it, the
    loss only rises).
    """
    import numpy as np

    lrs = np.asarray(learning_rates, dtype=float)
    loss = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(loss)
    if finite.sum() < 3:
        return None, None
    lrs, loss = lrs[finite], loss[finite]
    n = len(loss)
    skip = min(skip_start, n - 1)  # a lucky first batch is no minimum
    lowest = skip + int(np.argmin(loss[skip:]))
    span = max(1, n // 20) if span is None else max(1, span)
    idx = np.arange(n)
    lo, hi = np.clip(idx - span, 0, n - 1), np.clip(idx + span, 0, n - 1)
    logs = np.log10(lrs)
    slope = (loss[hi] - loss[lo]) / np.maximum(logs[hi] - logs[lo], 1e-12)
    start = min(skip_start + span, max(lowest - 1, 0))
    window = slope[start : lowest + 1]
    if window.size == 0 or np.min(window) >= 0:
        return None, float(lrs[lowest])
    steepest = start + int(np.argmin(window))
    return float(lrs[steepest]), float(lrs[lowest])


def lr_range_test(
    model,
    dataset,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    beta: float = 0.98,
    diverge: float = 4.0,
    skip_start: int = 10,
    on_step=None,
) -> LRFinderResult:
    """Run the sweep on a compiled ``model`` over batches of ``dataset`` (repeated as needed).

    The model's weights change: use a fresh model, or reload yours afterwards.
    ``on_step(i, rate, loss, smoothed)`` is called after each step.
    """
    import keras

    rates = sweep_rates(min_lr, max_lr, steps)
    optimizer = model.optimizer
    if isinstance(learning_rate_of(optimizer), keras.optimizers.schedules.LearningRateSchedule):
        raise ConfigError(
            "The range test sets the rate itself: compile the model with a float rate."
        )
    started = time.time()
    losses: list[float] = []
    smoothed: list[float] = []
    best = math.inf
    diverged = False
    batches = iter(dataset.repeat())
    avg = 0.0
    for i, rate in enumerate(rates):
        x, y = next(batches)
        optimizer.learning_rate = rate
        logs = model.train_on_batch(x, y, return_dict=True)
        loss = float(logs["loss"])
        if not math.isfinite(loss):
            diverged = True
            break
        losses.append(loss)
        avg = beta * avg + (1.0 - beta) * loss
        value = avg / (1.0 - beta ** (i + 1))
        smoothed.append(value)
        if on_step is not None:
            on_step(i, rate, loss, value)
        best = min(best, value)
        if i > skip_start and value > diverge * best:
            diverged = True
            break
    done = rates[: len(losses)]
    steep, lowest = suggest(done, smoothed, skip_start)
    return LRFinderResult(
        learning_rates=done,
        losses=losses,
        smoothed=smoothed,
        suggestion=steep,
        min_loss_learning_rate=lowest,
        diverged=diverged,
        seconds=time.time() - started,
    )


def plot(result: LRFinderResult, path: str | Path, title: str = "LR range test") -> Path:
    """The range test as a PNG (:func:`figure`)."""
    path = Path(path)
    figure(result, title).savefig(path)
    return path


def figure(result: LRFinderResult, title: str = "LR range test"):
    """Loss (raw and smoothed) against the rate, log x axis, suggestion marked; a Figure."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100)
    ax = fig.subplots()
    ax.plot(result.learning_rates, result.losses, color="0.75", lw=1, label="loss")
    ax.plot(result.learning_rates, result.smoothed, color="C0", lw=2, label="smoothed loss")
    if result.suggestion:
        ax.axvline(
            result.suggestion, color="C3", ls="--", label=f"steepest {result.suggestion:.2e}"
        )
    if result.min_loss_learning_rate:
        ax.axvline(
            result.min_loss_learning_rate,
            color="0.4",
            ls=":",
            label=f"minimum {result.min_loss_learning_rate:.2e}",
        )
    ax.set_xscale("log")
    if result.smoothed:
        low = min(min(result.smoothed), min(result.losses))
        high = max(result.smoothed[0], min(result.smoothed)) * 1.5
        ax.set_ylim(low - 0.05 * (high - low), high)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def tensorboard_extras(writer, result: LRFinderResult) -> None:
    import numpy as np
    import tensorflow as tf

    with writer.as_default():
        if result.suggestion:
            tf.summary.scalar("suggested_learning_rate", result.suggestion, step=0)
        if result.min_loss_learning_rate:
            tf.summary.scalar("min_loss_learning_rate", result.min_loss_learning_rate, step=0)
        tf.summary.scalar("lr_finder_seconds", result.seconds, step=0)
        if result.plot is not None:
            png = tf.io.decode_png(tf.io.read_file(str(result.plot)), channels=4)
            tf.summary.image("lr_finder", np.expand_dims(png.numpy(), 0), step=0)
        tf.summary.text(
            "lr_finder_suggestion",
            f"steepest descent at {result.suggestion}; minimum of the smoothed loss at "
            f"{result.min_loss_learning_rate}; diverged: {result.diverged}",
            step=0,
        )
    writer.flush()
