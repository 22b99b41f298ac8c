"""A run's learning curves, diagnosed in plain words.

:func:`diagnose` reads the per-epoch history of one run (``loss``, ``val_loss``; the same keys
as in TensorBoard, MLflow and ``history.csv``) and names what a practitioner would see on the
dashboard:

- ``lr_too_high``: the training loss became NaN or infinite, diverged (rose well above its
  best value), or oscillated (rose from one epoch to the next again and again);
- ``overfitting``: the validation loss reached its lowest value at some epoch and rose after
  it while the training loss kept falling, so the gap between them grew;
- ``plateau``: the monitored loss stopped improving for several epochs: a learning-rate
  schedule (reduce on plateau, cosine decay) usually gets it moving again;
- ``underfitting``: the model does not fit even the training data (the training loss fell
  little, and validation follows it closely), or it was still improving when training stopped;
- ``healthy``: none of the above.

Epochs are counted from 0, as the steps on the TensorBoard and MLflow charts. Every threshold
is a keyword argument with a documented default, so that a verdict can be reproduced exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zoo.errors import ZooError

KINDS = ("lr_too_high", "overfitting", "plateau", "underfitting", "healthy", "too_short")


@dataclass(frozen=True)
class Finding:
    """One verdict: its kind, the epoch it points at (or None), and what it means in words."""

    kind: str
    epoch: int | None
    message: str
    advice: str

    def __str__(self) -> str:
        return f"{self.message} {self.advice}".strip()


def _as_lists(history: Mapping, key: str) -> tuple[list[int], dict[str, list[float]]]:
    """Accept ``{key: [v0, v1, ...]}`` (history.csv) or ``{key: {step: v}}`` (TB, MLflow).

    Returns the steps of ``key`` and every series as a list in step order.
    """
    steps: list[int] = []
    series: dict[str, list[float]] = {}
    for name, values in history.items():
        if isinstance(values, Mapping):
            pairs = sorted((int(s), float(v)) for s, v in values.items())
            series[name] = [v for _, v in pairs]
            if name == key:
                steps = [s for s, _ in pairs]
        else:
            series[name] = [float(v) for v in values]
            if name == key:
                steps = list(range(len(series[name])))
    return steps, series


def _rises(values: Sequence[float], tolerance: float) -> list[int]:
    """Indices ``i`` where ``values[i]`` exceeds ``values[i-1]`` by more than ``tolerance``."""
    return [i for i in range(1, len(values)) if values[i] > values[i - 1] * (1 + tolerance) + 1e-12]


def _last_improvement(values: Sequence[float], min_delta: float) -> int:
    """The last index whose value beat the best before it by more than ``min_delta`` (relative)."""
    best, last = values[0], 0
    for i in range(1, len(values)):
        if values[i] < best * (1 - min_delta):
            last = i
        best = min(best, values[i])
    return last


def diagnose(
    history: Mapping,
    *,
    loss: str = "loss",
    val_loss: str = "val_loss",
    min_epochs: int = 3,
    diverge_ratio: float = 0.5,
    oscillation_tolerance: float = 0.01,
    oscillation_fraction: float = 0.3,
    overfit_patience: int = 2,
    overfit_rise: float = 0.02,
    plateau_patience: int = 3,
    plateau_min_delta: float = 0.01,
    underfit_min_drop: float = 0.5,
    underfit_gap: float = 0.1,
    still_improving: float = 0.02,
) -> list[Finding]:
    """Diagnose one run from its per-epoch ``history``; the most important finding first.

    ``history`` maps metric names to per-epoch values, as lists (``history.csv``,
    ``RunResult.history``) or as ``{step: value}`` (:func:`zoo.logs.read_tensorboard`,
    :func:`zoo.logs.read_mlflow`). Thresholds:

    - ``diverge_ratio``: the training loss rose more than this fraction above its best so far;
    - ``oscillation_tolerance``/``oscillation_fraction``: an epoch-to-epoch rise larger than the
      tolerance (relative) counts; this fraction of the epochs (and at least 2) rising is
      oscillation;
    - ``overfit_patience``/``overfit_rise``: validation loss lowest at least this many epochs
      before the end and, at the end, above its minimum by more than this fraction;
    - ``plateau_patience``/``plateau_min_delta``: no improvement larger than ``min_delta``
      (relative to the best so far) in the last ``patience`` epochs;
    - ``underfit_min_drop``: the training loss fell by less than this fraction of its first
      value; ``underfit_gap``: validation within this fraction of training loss;
      ``still_improving``: the loss fell by more than this fraction per epoch over the last
      three epochs.
    """
    steps, series = _as_lists(history, loss)
    if loss not in series:
        raise ZooError(f"The history has no {loss!r} values to diagnose (it has {sorted(series)}).")
    train = series[loss]
    n = len(train)
    val = series.get(val_loss)
    if val is not None and len(val) != n:
        val = None
    if n < min_epochs:
        return [
            Finding(
                "too_short",
                None,
                f"Only {n} epoch(s): too few to judge the learning curves.",
                f"Train for at least {min_epochs} epochs.",
            )
        ]

    def at(i: int) -> int:
        return steps[i]

    # 1. learning rate too high: NaN, divergence, oscillation of the training loss
    for i, value in enumerate(train):
        if not math.isfinite(value):
            return [
                Finding(
                    "lr_too_high",
                    at(i),
                    f"Learning rate too high: the training loss became {value} at epoch {at(i)}.",
                    "Lower the learning rate (10x), add gradient clipping (optimizer.clipnorm) "
                    "or a warm-up; check the inputs for NaN.",
                )
            ]
    for i in range(1, n):
        best = min(train[:i])
        if train[i] > best * (1 + diverge_ratio):
            return [
                Finding(
                    "lr_too_high",
                    at(i),
                    f"Learning rate too high: the training loss diverged at epoch {at(i)} "
                    f"({train[i]:.4g}, against a best of {best:.4g} before it).",
                    "Lower the learning rate (3-10x), or use a schedule with warm-up; "
                    "`zoo find-lr` suggests a rate.",
                )
            ]
    rises = _rises(train, oscillation_tolerance)
    if len(rises) >= max(2, math.ceil(oscillation_fraction * (n - 1))):
        return [
            Finding(
                "lr_too_high",
                at(rises[0]),
                f"Learning rate too high: the training loss oscillates, rising in {len(rises)} "
                f"of {n - 1} epochs, first at epoch {at(rises[0])}.",
                "Lower the learning rate, or decay it (cosine decay, reduce on plateau); a "
                "larger batch also smooths the steps.",
            )
        ]

    findings: list[Finding] = []
    # 2. overfitting: validation loss lowest well before the end, rising after, gap growing
    if val is not None:
        best = min(range(n), key=val.__getitem__)
        gap_best = val[best] - train[best]
        gap_end = val[-1] - train[-1]
        if (
            n - 1 - best >= overfit_patience
            and val[-1] > val[best] * (1 + overfit_rise)
            and gap_end > gap_best
        ):
            findings.append(
                Finding(
                    "overfitting",
                    at(best),
                    f"Overfitting: the validation loss was lowest at epoch {at(best)} "
                    f"({val[best]:.4g}) and rose to {val[-1]:.4g} by epoch {at(n - 1)}, while the "
                    f"training loss fell from {train[best]:.4g} to {train[-1]:.4g}; the gap "
                    f"between them grew from {gap_best:.4g} to {gap_end:.4g}.",
                    f"Try early stopping (train.early_stopping_patience; the best weights are "
                    f"those of epoch {at(best)}, kept in checkpoints/best.keras), more dropout, "
                    "weight decay (optimizer.weight_decay) or other regularisation, data "
                    "augmentation, more data or a smaller model.",
                )
            )
            return findings

    # 3. plateau: the monitored loss stopped improving
    monitored, name = (val, val_loss) if val is not None else (train, loss)
    last = _last_improvement(monitored, plateau_min_delta)
    if n - 1 - last >= plateau_patience:
        findings.append(
            Finding(
                "plateau",
                at(last),
                f"Plateau: {name} last improved at epoch {at(last)} ({monitored[last]:.4g}) and "
                f"did not improve by more than {plateau_min_delta:.0%} in the "
                f"{n - 1 - last} epochs after it.",
                "A learning-rate schedule helps here: reduce the rate on plateau "
                "(e.g. by 10x after a few flat epochs) or decay it with a cosine schedule; "
                "stop early if it stays flat.",
            )
        )
        return findings

    # 4. underfitting: the training loss fell little and validation follows it closely
    drop = (train[0] - train[-1]) / train[0] if train[0] else 0.0
    close = val is None or abs(val[-1] - train[-1]) <= underfit_gap * abs(train[-1])
    recent = (train[-3] - train[-1]) / (2 * train[-3]) if train[-3] else 0.0
    if drop < underfit_min_drop and close:
        findings.append(
            Finding(
                "underfitting",
                at(n - 1),
                f"Underfitting: the training loss fell only {drop:.0%} in {n} epochs "
                f"({train[0]:.4g} to {train[-1]:.4g})"
                + (", and the validation loss follows it closely." if val is not None else "."),
                "The model does not fit even the training data: give it more capacity (more "
                "filters, units or blocks), train longer, raise the learning rate, or reduce "
                "regularisation (dropout, weight decay).",
            )
        )
        return findings
    if recent > still_improving and close:
        findings.append(
            Finding(
                "underfitting",
                at(n - 1),
                f"Underfitting: still improving when training stopped: the training loss fell "
                f"{recent:.1%} per epoch over the last epochs (to {train[-1]:.4g} at epoch "
                f"{at(n - 1)}).",
                "Train for more epochs (train.epochs); early stopping will end the run when "
                "the validation loss stops improving.",
            )
        )
        return findings

    best_at = min(range(n), key=monitored.__getitem__)
    return [
        Finding(
            "healthy",
            at(best_at),
            f"No problem found: {name} was lowest at epoch {at(best_at)} "
            f"({monitored[best_at]:.4g}) of {n}, and the curves are smooth.",
            "",
        )
    ]


def describe(findings: Sequence[Finding]) -> str:
    """The findings as plain text, one paragraph each."""
    return "\n".join(str(f) for f in findings)
