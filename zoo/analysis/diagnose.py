"""A run's learning curves, diagnosed in plain words, each verdict with the fix it calls for.

:func:`diagnose` reads the per-epoch history of one run (``loss``, ``val_loss``, and
``accuracy``, ``val_accuracy``, ``learning_rate`` when present; the same keys as in
TensorBoard, MLflow and ``history.csv``) and names what a practitioner would see on the
dashboard, in this order (the first that applies is the verdict):

- ``lr_too_high``: the training loss became NaN or infinite, diverged (rose well above its
  best value and stayed there), spiked (jumped and came back), or oscillated (rose from one
  epoch to the next again and again): lower the rate, warm up, clip gradients;
- ``overfitting``: the validation loss was lowest at epoch k and rose after it while the
  training loss kept falling, so the gap grew: regularise, stop at epoch k;
- ``lr_too_low``: a flat start, the training loss hardly moved in the first epochs: raise the
  rate (or shorten the warm-up);
- ``still_improving``: the monitored loss was still falling steeply at the last epoch: train
  longer;
- ``plateau``: the monitored loss stopped improving for several epochs: a schedule or a
  plateau reduction usually gets it moving again (goal 4.5 of the course);
- ``underfitting``: the training loss fell little and validation follows it: more capacity;
- ``healthy``: none of the above.

A note of kind ``train_below_val`` follows the verdict when the training accuracy stayed
below the validation accuracy: dropout's doing (and Keras' running mean over the epoch), not
a bug. Epochs are counted from 0, as the steps on the TensorBoard and MLflow charts; every
finding cites the epochs and values it saw. Every threshold is a keyword argument with a
documented default, so that a verdict can be reproduced exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zoo.errors import ZooError

KINDS = (
    "lr_too_high",
    "overfitting",
    "lr_too_low",
    "still_improving",
    "plateau",
    "underfitting",
    "healthy",
    "too_short",
    "train_below_val",
)


@dataclass(frozen=True)
class Finding:
    """One verdict: its kind, the epoch it points at (or None), and what it means in words."""

    kind: str
    epoch: int | None
    message: str
    advice: str

    def __str__(self) -> str:
        return f"{self.message} {self.advice}".strip()


@dataclass(frozen=True)
class Thresholds:
    """The numbers behind the verdicts (see :func:`diagnose` for their meaning)."""

    min_epochs: int = 3
    diverge_ratio: float = 0.5
    spike_ratio: float = 0.25
    oscillation_tolerance: float = 0.01
    oscillation_fraction: float = 0.3
    overfit_patience: int = 2
    overfit_rise: float = 0.02
    flat_epochs: int = 3
    flat_tolerance: float = 0.01
    still_improving: float = 0.02
    plateau_patience: int = 3
    plateau_min_delta: float = 0.01
    underfit_min_drop: float = 0.5
    underfit_gap: float = 0.1


@dataclass(frozen=True)
class Curves:
    """One run's series in epoch order, and the epoch (step) of each position."""

    steps: list[int]
    train: list[float]
    val: list[float] | None
    series: dict[str, list[float]]

    def at(self, i: int) -> int:
        return self.steps[i]

    @property
    def n(self) -> int:
        return len(self.train)

    def get(self, key: str) -> list[float] | None:
        values = self.series.get(key)
        return values if values is not None and len(values) == self.n else None


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


def _drop(a: float, b: float) -> float:
    """The relative fall from ``a`` to ``b`` (negative for a rise)."""
    return (a - b) / abs(a) if a else 0.0


# -- the rules, in the order they are tried -----------------------------------------------------
def nan_loss(c: Curves, t: Thresholds) -> Finding | None:
    for i, value in enumerate(c.train):
        if not math.isfinite(value):
            return Finding(
                "lr_too_high",
                c.at(i),
                f"Learning rate too high: the training loss became {value} at epoch {c.at(i)}.",
                "Lower the learning rate (10x), add gradient clipping (optimizer.clipnorm) "
                "or a warm-up; check the inputs for NaN.",
            )
    return None


def divergence(c: Curves, t: Thresholds) -> Finding | None:
    train = c.train
    for i in range(1, c.n):
        best = min(train[:i])
        if train[i] > best * (1 + t.diverge_ratio) and train[-1] > best * (1 + t.diverge_ratio):
            return Finding(
                "lr_too_high",
                c.at(i),
                f"Learning rate too high: the training loss diverged at epoch {c.at(i)} "
                f"({train[i]:.4g}, against a best of {best:.4g} before it) and ended at "
                f"{train[-1]:.4g}.",
                "Lower the learning rate (3-10x), or use a schedule with warm-up; "
                "`zoo find-lr` suggests a rate.",
            )
    return None


def spikes(c: Curves, t: Thresholds) -> Finding | None:
    train = c.train
    jumps = [i for i in range(1, c.n) if train[i] > train[i - 1] * (1 + t.spike_ratio)]
    if not jumps:
        return None
    i = jumps[0]
    back = next((j for j in range(i + 1, c.n) if train[j] <= train[i - 1]), None)
    recovery = (
        f" and came back to {train[back]:.4g} by epoch {c.at(back)}" if back is not None else ""
    )
    return Finding(
        "lr_too_high",
        c.at(i),
        f"Learning rate too high: the training loss spiked at epoch {c.at(i)} ({train[i]:.4g}, "
        f"from {train[i - 1]:.4g} at epoch {c.at(i - 1)}){recovery}"
        + (f"; {len(jumps)} spikes in all." if len(jumps) > 1 else "."),
        "Steps overshoot: lower the learning rate, warm it up (train.schedule = "
        "'warmup_cosine') or clip gradients (optimizer.clipnorm = 1.0).",
    )


def oscillation(c: Curves, t: Thresholds) -> Finding | None:
    rises = _rises(c.train, t.oscillation_tolerance)
    if len(rises) < max(2, math.ceil(t.oscillation_fraction * (c.n - 1))):
        return None
    return Finding(
        "lr_too_high",
        c.at(rises[0]),
        f"Learning rate too high: the training loss oscillates, rising in {len(rises)} "
        f"of {c.n - 1} epochs, first at epoch {c.at(rises[0])}.",
        "Lower the learning rate, or decay it (cosine decay, reduce on plateau); a "
        "larger batch also smooths the steps.",
    )


def overfitting(c: Curves, t: Thresholds) -> Finding | None:
    train, val, n = c.train, c.val, c.n
    if val is None:
        return None
    best = min(range(n), key=val.__getitem__)
    gap_best, gap_end = val[best] - train[best], val[-1] - train[-1]
    if not (
        n - 1 - best >= t.overfit_patience
        and val[-1] > val[best] * (1 + t.overfit_rise)
        and gap_end > gap_best
    ):
        return None
    k = c.at(best)
    return Finding(
        "overfitting",
        k,
        f"Overfitting: the validation loss was lowest at epoch {k} ({val[best]:.4g}) and rose "
        f"to {val[-1]:.4g} by epoch {c.at(n - 1)}, while the training loss fell from "
        f"{train[best]:.4g} to {train[-1]:.4g}; the gap between them grew from {gap_best:.4g} "
        f"to {gap_end:.4g}.",
        f"Stop at epoch {k}: early stopping (train.early_stopping_patience) keeps those weights, "
        "and checkpoints/best.keras holds them already. Regularise: more dropout, weight decay "
        "(optimizer.weight_decay), data augmentation, more data or a smaller model.",
    )


def flat_start(c: Curves, t: Thresholds) -> Finding | None:
    k = min(t.flat_epochs, c.n) - 1
    head = c.train[: k + 1]
    if k < 2 or any(_drop(head[i - 1], head[i]) > t.flat_tolerance for i in range(1, k + 1)):
        return None
    later = ""
    if c.n > k + 1:
        later = f", then {c.train[-1]:.4g} by epoch {c.at(c.n - 1)}"
    advice = "Raise the learning rate (3-10x; `zoo find-lr` suggests one)"
    rate = c.get("learning_rate")
    if rate is not None and rate[k] > rate[0] * 1.5:
        advice = (
            f"The rate was still warming up ({rate[0]:.3g} to {rate[k]:.3g}): shorten the "
            "warm-up or start it higher (warmup_cosine.warmup_start)"
        )
    return Finding(
        "lr_too_low",
        c.at(0),
        f"Learning rate too low: a flat start, the training loss moved by less than "
        f"{t.flat_tolerance:.0%} per epoch in epochs {c.at(0)}-{c.at(k)} ({head[0]:.4g} to "
        f"{head[-1]:.4g}){later}.",
        advice + "; if it never moves, check that the labels match the inputs.",
    )


def still_improving(c: Curves, t: Thresholds) -> Finding | None:
    values, name = (c.val, "val_loss") if c.val is not None else (c.train, "loss")
    if c.n < 3:
        return None
    last, mean = _drop(values[-2], values[-1]), _drop(values[-3], values[-1]) / 2
    if last <= t.still_improving or mean <= t.still_improving:
        return None
    n = c.n
    accuracy = c.get("val_accuracy") if c.val is not None else c.get("accuracy")
    seen = (
        f"; {'val_' if c.val is not None else ''}accuracy rose from {accuracy[0]:.3g} to "
        f"{accuracy[-1]:.3g}"
        if accuracy
        else ""
    )
    return Finding(
        "still_improving",
        c.at(n - 1),
        f"Still improving when training stopped: {name} fell {mean:.1%} per epoch over the "
        f"last two epochs ({values[-3]:.4g} at epoch {c.at(n - 3)} to {values[-1]:.4g} at "
        f"epoch {c.at(n - 1)}){seen}.",
        f"Train longer (train.epochs, e.g. {2 * n} instead of {n}); early stopping "
        "(train.early_stopping_patience) ends the run when the validation loss stops improving.",
    )


def plateau(c: Curves, t: Thresholds) -> Finding | None:
    monitored, name = (c.val, "val_loss") if c.val is not None else (c.train, "loss")
    last = _last_improvement(monitored, t.plateau_min_delta)
    if c.n - 1 - last < t.plateau_patience:
        return None
    return Finding(
        "plateau",
        c.at(last),
        f"Plateau: {name} last improved at epoch {c.at(last)} ({monitored[last]:.4g}) and "
        f"did not improve by more than {t.plateau_min_delta:.0%} in the "
        f"{c.n - 1 - last} epochs after it (ending at {monitored[-1]:.4g}).",
        "A learning-rate schedule helps here: reduce the rate on plateau "
        "(train.reduce_on_plateau = True) or decay it with a cosine schedule "
        "(train.schedule = 'warmup_cosine'); stop early if it stays flat.",
    )


def underfitting(c: Curves, t: Thresholds) -> Finding | None:
    train, val, n = c.train, c.val, c.n
    drop = _drop(train[0], train[-1])
    close = val is None or abs(val[-1] - train[-1]) <= t.underfit_gap * abs(train[-1])
    if drop >= t.underfit_min_drop or not close:
        return None
    return Finding(
        "underfitting",
        c.at(n - 1),
        f"Underfitting: the training loss fell only {drop:.0%} in {n} epochs "
        f"({train[0]:.4g} to {train[-1]:.4g})"
        + (", and the validation loss follows it closely." if val is not None else "."),
        "The model does not fit even the training data: give it more capacity (more "
        "filters, units or blocks), train longer, raise the learning rate, or reduce "
        "regularisation (dropout, weight decay).",
    )


def train_below_val(c: Curves, t: Thresholds) -> Finding | None:
    train, val = c.get("accuracy"), c.get("val_accuracy")
    if train is None or val is None:
        return None
    below = [i for i in range(c.n) if train[i] < val[i]]
    if train[-1] >= val[-1] or 2 * len(below) < c.n:
        return None
    return Finding(
        "train_below_val",
        c.at(c.n - 1),
        f"Training accuracy below validation accuracy in {len(below)} of {c.n} epochs "
        f"({train[-1]:.4g} against {val[-1]:.4g} at epoch {c.at(c.n - 1)}).",
        "Not a bug: dropout (and any augmentation) is active while the training accuracy is "
        "measured and off for validation, and the training accuracy is the mean over the "
        "epoch while the weights improve, validation is measured at its end.",
    )


RULES = (
    nan_loss,
    divergence,
    spikes,
    oscillation,
    overfitting,
    flat_start,
    still_improving,
    plateau,
    underfitting,
)


def _healthy(c: Curves) -> Finding:
    monitored, name = (c.val, "val_loss") if c.val is not None else (c.train, "loss")
    best = min(range(c.n), key=monitored.__getitem__)
    return Finding(
        "healthy",
        c.at(best),
        f"No problem found: {name} was lowest at epoch {c.at(best)} "
        f"({monitored[best]:.4g}) of {c.n}, and the curves are smooth.",
        "",
    )


def diagnose(
    history: Mapping, *, loss: str = "loss", val_loss: str = "val_loss", **thresholds: float
) -> list[Finding]:
    """Diagnose one run from its per-epoch ``history``: the verdict, then any note.

    ``history`` maps metric names to per-epoch values, as lists (``history.csv``,
    ``RunResult.history``) or as ``{step: value}`` (:func:`zoo.tracking.readers.read_tensorboard`,
    :func:`zoo.tracking.readers.read_mlflow`). Thresholds (keywords, defaults in :class:`Thresholds`):

    - ``min_epochs`` (3): fewer epochs give the verdict ``too_short``;
    - ``diverge_ratio`` (0.5): the training loss rose this fraction above its best so far and
      ended there; ``spike_ratio`` (0.25): it rose this fraction from one epoch to the next;
    - ``oscillation_tolerance``/``oscillation_fraction`` (0.01, 0.3): an epoch-to-epoch rise
      larger than the tolerance counts; this fraction of the epochs (at least 2) rising is
      oscillation;
    - ``overfit_patience``/``overfit_rise`` (2, 0.02): validation loss lowest at least this many
      epochs before the end and, at the end, above its minimum by more than this fraction;
    - ``flat_epochs``/``flat_tolerance`` (3, 0.01): in each of the first epochs the training
      loss fell by less than this fraction;
    - ``still_improving`` (0.02): the monitored loss fell by more than this fraction in the last
      epoch and per epoch over the last two;
    - ``plateau_patience``/``plateau_min_delta`` (3, 0.01): no improvement larger than
      ``min_delta`` (relative to the best so far) in the last ``patience`` epochs;
    - ``underfit_min_drop`` (0.5): the training loss fell by less than this fraction of its
      first value; ``underfit_gap`` (0.1): validation within this fraction of training loss.
    """
    try:
        t = Thresholds(**thresholds)
    except TypeError as exc:
        known = ", ".join(Thresholds().__dict__)
        raise ZooError(f"diagnose: {exc}; the thresholds are {known}.") from None
    steps, series = _as_lists(history, loss)
    if loss not in series:
        raise ZooError(f"The history has no {loss!r} values to diagnose (it has {sorted(series)}).")
    train = series[loss]
    val = series.get(val_loss)
    curves = Curves(
        steps, train, val if val is not None and len(val) == len(train) else None, series
    )
    if curves.n < t.min_epochs:
        return [
            Finding(
                "too_short",
                None,
                f"Only {curves.n} epoch(s): too few to judge the learning curves.",
                f"Train for at least {t.min_epochs} epochs.",
            )
        ]
    verdict = next((f for rule in RULES if (f := rule(curves, t)) is not None), None)
    note = train_below_val(curves, t)
    return [verdict or _healthy(curves), *([note] if note else [])]


def describe(findings: Sequence[Finding]) -> str:
    """The findings as plain text, one paragraph each."""
    return "\n".join(str(f) for f in findings)
