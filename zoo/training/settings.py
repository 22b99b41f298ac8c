"""Phase 1 of a run: its settings, read from gin once into one validated object.

:class:`TrainSettings` is the gin configurable ``train``: ``train.epochs = 10`` in a recipe
binds its field. Every value is checked for type and range when the object is made, so a
mistake costs a second and one sentence, not a traceback at epoch 40. :func:`read_settings`
makes the run's :class:`Settings` (``train``, ``transfer``, ``distribute``) at the edge: the
later phases receive it, and no module below this one reads gin's state.

:class:`RunOptions` holds what is not a setting of the experiment but of one invocation
(where to log, which extra callbacks, resuming, the fold of a cross-validation...): keyword
arguments of ``zoo.train``, never gin bindings, so they stay out of every operative config,
HParams table and ``zoo compare`` parameter table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gin

from zoo.datasets.base import TARGETS
from zoo.errors import ConfigError, unknown

if TYPE_CHECKING:
    from zoo.training.distribute import DistributeSettings
    from zoo.training.transfer import TransferSettings

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adadelta", "adagrad", "nadam")
PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
TEST_TIME_AUGMENTS = ("flip", "flip_translate")  # see zoo.datasets.augment.test_time_views
DISTRIBUTIONS = ("none", "mirrored", "multi_worker", "ray")  # see zoo.training.distribute


@gin.configurable("train", module="zoo")
@dataclass
class TrainSettings:
    """What to train and how: ``train.*`` in recipes and ``--bind``.

    ``schedule`` names a learning-rate schedule (``warmup_cosine``, ``one_cycle``...; knobs
    under its own gin name) peaking at ``learning_rate``; ``reduce_on_plateau`` scales the
    rate, or the schedule, down on a plateau (knobs under ``plateau.*``); ``folds = k`` runs
    k-fold cross-validation; ``init_from`` starts from a trained network (``transfer.*``);
    ``deterministic`` turns on TensorFlow's op determinism (same seed, same metrics, at some
    cost in speed; it stays on for the rest of the process).

    ``distribution`` trains one model on several devices, processes or machines
    (:mod:`zoo.training.distribute`; its knobs under ``distribute.*``); ``devices`` is the
    number of devices of ``'mirrored'`` (logical CPU devices when there is no GPU).
    ``batch_size`` is always the global batch: a strategy splits it between its replicas.

    ``test_time_augment = 'flip'`` scores the test split (and ``evaluation/``) with the
    average of the model's outputs on each image and on its mirror image; ``'flip_translate'``
    adds the image and its mirror shifted one pixel each way (six views); the plain model's
    test metrics are logged beside them as ``test_plain_*``. Validation stays plain.

    ``label_smoothing`` (e.g. 0.1; Szegedy et al. 2016) trains a classifier towards
    ``1 - label_smoothing`` on the true class and the rest spread evenly over all classes.
    ``jit_compile`` is Keras' ``compile(jit_compile=...)``: ``'auto'`` lets Keras choose (XLA
    on TensorFlow whenever every layer supports it, also on a CPU), True or False forces it.
    """

    model: str = "cnn"
    dataset: str = "fashion_mnist"
    experiment: str = "default"
    run_name: str | None = None
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    loss: str = "auto"
    from_logits: bool = False
    metrics: Sequence[str] = ("auto",)
    target: str = "sparse"
    precision: str = "auto"
    seed: int = 42
    runs_dir: str = "runs"
    checkpoint_monitor: str = "val_loss"
    early_stopping_patience: int | None = None
    tracking_uri: str | None = None
    log_every_n_steps: int | None = None
    steps_per_epoch: int | None = None
    schedule: str | None = None
    reduce_on_plateau: bool = False
    init_from: str | None = None
    folds: int | None = None
    deterministic: bool = False
    distribution: str = "none"
    devices: int | None = None
    test_time_augment: str | None = None
    label_smoothing: float = 0.0
    jit_compile: bool | str = "auto"

    def __post_init__(self) -> None:
        _check_names(self)
        _check_numbers(self)
        _check_flags(self)
        _check_distribution(self)

    def replace(self, **changes: Any) -> TrainSettings:
        """A copy with ``changes``, validated again."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values.update(changes)
        return TrainSettings(**values)  # explicit values win over gin's bindings


def _bad(name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"train.{name} must be {allowed}, not {value!r}.")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_names(s: TrainSettings) -> None:
    from zoo.models import registry
    from zoo.training.losses import LOSSES

    for name in ("model", "dataset", "experiment", "optimizer", "loss", "target", "precision"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            raise _bad(name, getattr(s, name), "a non-empty string (quoted in gin: 'name')")
    registry.get_spec(s.model)  # unknown names fail with suggestions, before any work
    if s.optimizer not in OPTIMIZERS:
        raise unknown("optimizer", s.optimizer, OPTIMIZERS)
    if s.precision not in PRECISIONS:
        raise unknown("precision", s.precision, PRECISIONS)
    if s.target not in TARGETS:
        raise unknown("target", s.target, TARGETS)
    if s.test_time_augment is not None and s.test_time_augment not in TEST_TIME_AUGMENTS:
        raise unknown("test_time_augment", str(s.test_time_augment), TEST_TIME_AUGMENTS)
    if s.loss != "auto" and s.loss not in LOSSES:
        raise unknown("loss", s.loss, LOSSES)
    if s.run_name is not None and (not isinstance(s.run_name, str) or not s.run_name.strip()):
        raise _bad("run_name", s.run_name, "None or a non-empty string")
    if isinstance(s.metrics, str):
        s.metrics = (s.metrics,)
    if not all(isinstance(m, str) for m in s.metrics):
        raise _bad("metrics", s.metrics, "a list of metric names such as ['accuracy']")
    for name in ("checkpoint_monitor", "runs_dir"):
        if not isinstance(getattr(s, name), str) or not getattr(s, name):
            raise _bad(name, getattr(s, name), "a non-empty string")
    if s.schedule is not None:
        from callbacks.schedule_config import SCHEDULES

        if s.schedule not in SCHEDULES:
            raise unknown("schedule", str(s.schedule), SCHEDULES)


def _check_numbers(s: TrainSettings) -> None:
    if not _is_int(s.epochs) or s.epochs < 1:
        raise _bad("epochs", s.epochs, "an integer of at least 1")
    if not _is_int(s.batch_size) or s.batch_size < 1:
        raise _bad("batch_size", s.batch_size, "an integer of at least 1")
    if not _is_int(s.seed):
        raise _bad("seed", s.seed, "an integer")
    if isinstance(s.learning_rate, bool) or not isinstance(s.learning_rate, int | float):
        raise _bad("learning_rate", s.learning_rate, "a positive number such as 1e-3")
    if not s.learning_rate > 0:
        raise _bad("learning_rate", s.learning_rate, "a positive number such as 1e-3")
    optional_ints = {
        "early_stopping_patience": 0,
        "log_every_n_steps": 1,
        "steps_per_epoch": 1,
        "folds": 2,
    }
    for name, least in optional_ints.items():
        value = getattr(s, name)
        if value is not None and (not _is_int(value) or value < least):
            raise _bad(name, value, f"None or an integer of at least {least}")
    smoothing = s.label_smoothing
    if isinstance(smoothing, bool) or not isinstance(smoothing, int | float):
        raise _bad("label_smoothing", smoothing, "a number from 0 to 1, such as 0.1")
    if not 0 <= smoothing < 1:
        raise _bad("label_smoothing", smoothing, "a number from 0 (none) up to 1, such as 0.1")


def _check_flags(s: TrainSettings) -> None:
    for name in ("from_logits", "reduce_on_plateau", "deterministic"):
        if not isinstance(getattr(s, name), bool):
            raise _bad(name, getattr(s, name), "True or False")
    if not (isinstance(s.jit_compile, bool) or s.jit_compile == "auto"):
        raise _bad("jit_compile", s.jit_compile, "'auto', True or False")
    for name in ("tracking_uri", "init_from"):
        value = getattr(s, name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise _bad(name, value, "None or a non-empty string")


def _check_distribution(s: TrainSettings) -> None:
    if s.distribution not in DISTRIBUTIONS:
        raise unknown("distribution", str(s.distribution), DISTRIBUTIONS)
    if s.devices is not None and (not _is_int(s.devices) or s.devices < 1):
        raise _bad("devices", s.devices, "None or an integer of at least 1")
    if s.devices is not None and s.distribution != "mirrored":
        raise ConfigError(
            "train.devices counts the devices of train.distribution = 'mirrored'; "
            f"with {s.distribution!r}, set the number of workers instead (distribute.workers)."
        )
    if s.folds and s.distribution == "ray":
        raise ConfigError(
            "train.folds runs folds one after the other in one process; with "
            "train.distribution = 'ray' use 'mirrored' or 'multi_worker' per fold instead."
        )


def current_settings(**overrides: Any) -> TrainSettings:
    """The ``train.*`` settings gin is configured with now; keyword ``overrides`` win."""
    try:
        return TrainSettings(**overrides)
    except TypeError as exc:
        raise ConfigError(f"zoo.train got an unknown setting: {exc}.") from None


@dataclass(frozen=True)
class Settings:
    """Every setting of one run, read from gin once (:func:`read_settings`).

    ``train`` is ``train.*``; ``transfer`` is ``transfer.*`` of a run with
    ``train.init_from`` (else None); ``distribute`` is ``distribute.*`` of a run with a
    ``train.distribution`` (else None). The later phases receive this object and read
    nothing from gin, so a trial or a worker that parses gin again after this point cannot
    change what the run trains.
    """

    train: TrainSettings
    transfer: TransferSettings | None = None
    distribute: DistributeSettings | None = None

    def replace(self, **train_changes: Any) -> Settings:
        """A copy whose ``train`` part has ``train_changes`` (validated again)."""
        return dataclasses.replace(self, train=self.train.replace(**train_changes))


def read_settings(**overrides: Any) -> Settings:
    """Phase 1: read every settings configurable gin holds now, once; keyword ``overrides``
    of ``train.*`` win. ``optimizer.name``, when a recipe binds it instead of
    ``train.optimizer``, names the optimizer here."""
    from zoo.training.distribute import DistributeSettings
    from zoo.training.transfer import TransferSettings

    train = current_settings(**overrides)
    optimizer = _optimizer_name(train.optimizer)
    if optimizer != train.optimizer:
        train = train.replace(optimizer=optimizer)
    return Settings(
        train=train,
        transfer=TransferSettings() if train.init_from else None,
        distribute=DistributeSettings() if train.distribution != "none" else None,
    )


def _optimizer_name(train_optimizer: str) -> str:
    """``train.optimizer``, or ``optimizer.name`` where a recipe binds that instead; both
    bound to different names is an error."""
    try:
        bound = gin.query_parameter("optimizer.name")
    except ValueError:
        return train_optimizer
    if train_optimizer not in ("adam", bound):
        raise ConfigError(
            f"train.optimizer = {train_optimizer!r} and optimizer.name = {bound!r} disagree: "
            "set only one of them."
        )
    return bound


@dataclass
class RunOptions:
    """How one invocation runs, as opposed to what it trains (not gin knobs).

    ``run_dir`` puts the run in that folder instead of ``runs/<experiment>/<run_name>``
    (tuning trials); ``epochs`` / ``initial_epoch`` override the budget (a Hyperband round);
    ``params`` are logged besides the operative config (a trial's values); ``test`` evaluates
    the test split at the end; ``checkpoints`` writes ``last.keras`` / ``best.keras``;
    ``handle_signals`` turns SIGINT, SIGTERM and SIGHUP into a KILLED run (main thread only).
    """

    recipe: str | None = None
    resume: bool = False
    fold: int | None = None
    parent_run_id: str | None = None
    extra_callbacks: Sequence[Any] = ()
    verbose: int | str = "auto"
    mlflow: bool = True
    tensorboard: bool = True
    run_dir: Path | None = None
    run_name: str | None = None
    epochs: int | None = None
    initial_epoch: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    test: bool = True
    checkpoints: bool = True
    handle_signals: bool = True
    announce: bool = True

    def __post_init__(self) -> None:
        if self.verbose == 0:  # quiet means quiet: only warnings and errors are printed
            self.announce = False
