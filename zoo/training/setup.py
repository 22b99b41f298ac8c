"""Phase 3 of a run: precision, seed, data, model, optimizer with its schedule, loss, metrics.

:func:`prepare` is what every kind of run builds on: ``zoo train``, a keras-tuner or Ray
trial, a cross-validation fold, the learning-rate range test and a transfer run. What it
returns is a :class:`Setup`: the data and the compiled model, and what the later phases log.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import gin

from zoo.errors import ConfigError
from zoo.tracking.rundir import RunDir
from zoo.training.optimizers import compile_model, resolve_loss
from zoo.training.settings import RunOptions, TrainSettings


@dataclass
class Setup:
    """A run ready to fit: its settings, data, compiled model and what gets logged."""

    settings: TrainSettings
    data: Any
    net: Any
    loss_name: str
    precision: Any  # zoo.training.hardware.PrecisionChoice
    steps_per_epoch: int
    initial_epoch: int = 0
    operative_config: str = ""
    model_summary: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    schedule_callbacks: list[Any] = field(default_factory=list)
    fine_tune: dict[str, Any] | None = None
    distribution: Any = None  # zoo.training.distribute.Distribution
    layer_table: str = ""

    @functools.cached_property
    def eval_net(self):
        """The network that is tested and exported: ``net`` without GoogLeNet's auxiliary
        classifiers (compiled with the main output's loss and metrics), else ``net``."""
        if not isinstance(self.net.output, dict):
            return self.net
        from zoo.models.googlenet import without_aux_heads
        from zoo.training.optimizers import compile_model

        return compile_model(without_aux_heads(self.net), self.settings, 1e-3, self.loss_name)

    @functools.cached_property
    def test_net(self):
        """The network the test split is scored with: ``eval_net``, or with
        ``train.test_time_augment = 'flip'`` its outputs averaged over each image and its
        mirror image (built on ``eval_net``'s weights, never saved)."""
        if self.settings.test_time_augment is None:
            return self.eval_net
        from zoo.datasets.augment import test_time_flip
        from zoo.training.optimizers import compile_model

        return compile_model(test_time_flip(self.eval_net), self.settings, 1e-3, self.loss_name)


@contextlib.contextmanager
def as_config_error(what: str) -> Iterator[None]:
    """Turn the ValueError / TypeError that Keras or a loader raises on a value it cannot take
    (``cnn.kernel_size = 0``, ``digits.validation_split = 3``) into one sentence that says
    where it happened."""
    from zoo.errors import ZooError, first_line

    try:
        yield
    except ZooError:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"{what} failed with these settings: {first_line(exc)}") from None


@contextlib.contextmanager
def global_policy_kept() -> Iterator[None]:
    """Restore Keras' global dtype policy when the block ends (a run sets its own)."""
    import keras

    previous = keras.mixed_precision.global_policy().name
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def prepare(settings: TrainSettings, run_dir: RunDir | None, options: RunOptions) -> Setup:
    """Seed, load the data, build (or load, or transfer) and compile the model."""
    import keras

    from zoo import datasets
    from zoo.training import distribute
    from zoo.training.hardware import choose_precision

    dist = distribute.start(settings)  # first: before anything else starts TensorFlow
    choice = choose_precision(settings.precision)
    keras.mixed_precision.set_global_policy(choice.policy)
    keras.utils.set_random_seed(settings.seed)
    if settings.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    loss_name = resolve_loss(settings.loss, settings.target)
    fold = {"folds": settings.folds, "fold": options.fold} if options.fold is not None else {}
    with as_config_error(f"loading dataset {settings.dataset!r}"):
        data = datasets.load(
            settings.dataset,
            batch_size=settings.batch_size,
            target=settings.target,
            seed=settings.seed,
            **fold,
        )
    data = distribute.shard(data, dist)
    if run_dir is not None and data.extras.get("vocabulary"):
        run_dir.vocabulary.write_text("\n".join(data.extras["vocabulary"]) + "\n")
    _say_data(data, options)
    if run_dir is not None and run_dir.resumed:
        _skip_shuffles(data, run_dir.completed_epochs, settings.steps_per_epoch)
    steps = steps_per_epoch(data, settings)
    setup = Setup(settings, data, None, loss_name, choice, steps, distribution=dist)
    with distribute.scope(dist):  # build, compile and load under the strategy
        if run_dir is not None and run_dir.resumed and run_dir.completed_epochs:
            setup.net = _load_checkpoint(run_dir)
            setup.initial_epoch = run_dir.completed_epochs
        else:
            with as_config_error(f"building model {settings.model!r} and its optimizer"):
                setup.net = _new_model(setup)
        distribute.adopt(setup.net, dist)
    if isinstance(setup.net.output, dict):  # GoogLeNet's auxiliary classifiers
        from zoo.models.googlenet import aux_targets

        for split in ("train", "validation"):
            if getattr(data, split) is not None:
                setattr(data, split, getattr(data, split).map(aux_targets))
    setup.fine_tune = fine_tune_settings(settings.init_from)
    with as_config_error("setting up the learning-rate callbacks"):
        setup.schedule_callbacks = schedule_callbacks(setup)
    _check_combination(setup)
    _describe(setup, run_dir, options)
    return setup


def _say_data(data, options: RunOptions) -> None:
    """Describe the data and one batch. The batch is drawn whatever ``announce`` says: it
    advances the random state, and a trial must build its model from the same state as the
    run it stands for."""
    x, y = next(iter(data.train))
    if not options.announce:
        return
    print(data.describe(), flush=True)
    print(
        f"  one batch: x {tuple(x.shape)} {x.dtype.name}, y {tuple(y.shape)} {y.dtype.name}",
        flush=True,
    )


def _skip_shuffles(data, epochs: int, steps_per_epoch: int | None) -> None:
    """Each iterator of the training split draws the next shuffle seed when it is made: make
    as many as the finished epochs made, so a resumed run sees its next epoch in the order
    the stopped run would have (as an uninterrupted run does).

    Keras' epoch iterator (keras/src/trainers/epoch_iterator.py) makes one at the start of
    every epoch and, when the split's length is known and no ``steps_per_epoch`` is given,
    one more at its end once every batch was seen: two per epoch. The lifecycle tests compare
    resumed epochs with an uninterrupted run, so a change of that count shows there."""
    per_epoch = 2 if steps_per_epoch is None and int(data.train.cardinality()) > 0 else 1
    for _ in range(epochs * per_epoch):
        iter(data.train)


def steps_per_epoch(data, settings: TrainSettings) -> int:
    """Optimizer steps in one epoch: ``train.steps_per_epoch``, else batches in the train split."""
    import math

    if settings.steps_per_epoch:
        return int(settings.steps_per_epoch)
    cardinality = int(data.train.cardinality())
    if cardinality > 0:
        return cardinality
    return max(math.ceil(data.sizes.get("train", settings.batch_size) / settings.batch_size), 1)


def learning_rate(settings: TrainSettings, peak: float, steps: int, epochs: int, schedule=None):
    """``peak``, or the schedule built on it; a plateau reduction without a schedule scales
    a constant schedule (saved with the model)."""
    if schedule is None and not settings.reduce_on_plateau:
        return peak
    from callbacks.schedule_config import make_schedule

    return make_schedule(schedule or "constant", peak, steps, epochs)


def schedule_callbacks(setup: Setup) -> list:
    """The plateau callback (first, so its ``lr_factor`` reaches the logs) and the callback
    that aligns a schedule with the epoch a fit starts at."""
    from callbacks.schedule_config import plateau as make_plateau
    from callbacks.schedules import SchedulePosition, ZooSchedule

    plateau = setup.settings.reduce_on_plateau
    cbs: list = [make_plateau()] if plateau else []
    schedule = getattr(setup.net.optimizer, "_learning_rate", None)
    if plateau or isinstance(schedule, ZooSchedule):
        cbs.append(SchedulePosition(setup.steps_per_epoch))
    return cbs


def _new_model(setup: Setup):
    from zoo.training import distribute

    s = setup.settings
    if s.init_from:
        from zoo.training import losses, transfer

        net = transfer.prepare(
            s.init_from,
            setup.data.num_outputs,
            losses.classifier_activation(setup.loss_name, s.from_logits),
            transfer.transfer_settings(),
            input_shape=setup.data.input_shape,
        )
        print(f"transfer from {s.init_from}: {transfer.trainable_report(net)}", flush=True)
    else:
        net = build_model(s.model, setup.data, setup.loss_name, s.from_logits)
    rate = distribute.learning_rate(s, setup.distribution, setup.steps_per_epoch)
    if rate is None:  # no linear scaling rule
        rate = learning_rate(s, s.learning_rate, setup.steps_per_epoch, s.epochs, s.schedule)
    return compile_model(net, s, rate, setup.loss_name)


def _load_checkpoint(run_dir: RunDir):
    from zoo.models.saving import load_model
    from zoo.training.checkpoints import restore_random_states

    net = load_model(run_dir.last, action="resume")
    restore_random_states(net, run_dir.last)
    print(f"resuming {run_dir.path} after epoch {run_dir.completed_epochs}", flush=True)
    return net


def build_model(model: str, data, loss_name: str, from_logits: bool = False):
    """Build registered ``model`` for ``data``: input shape, outputs and output activation."""
    from zoo.models import registry
    from zoo.training import losses

    net = registry.build(
        model,
        input_shape=data.input_shape,
        classes=data.num_outputs,
        classifier_activation=losses.classifier_activation(loss_name, from_logits),
        **_dataset_model_kwargs(model, data),
    )
    if loss_name == "nll":
        net = _with_log_softmax(net)
    return net


def _dataset_model_kwargs(model: str, data) -> dict[str, Any]:
    """What the dataset tells the builder (``extras["model_kwargs"]``, e.g. the vocabulary
    size of a text dataset), restricted to the arguments the builder accepts."""
    import inspect

    from zoo.models import registry

    offered = getattr(data, "extras", {}).get("model_kwargs") or {}
    if not offered:
        return {}
    accepted = inspect.signature(registry.get_spec(model).builder).parameters
    return {k: v for k, v in offered.items() if k in accepted}


def _with_log_softmax(net):
    """Append a log-softmax to a linear-output model, for the ``nll`` loss."""
    import keras

    out = keras.layers.Activation("log_softmax", dtype="float32", name="log_probs")(net.output)
    return keras.Model(net.inputs, out, name=net.name)


def fine_tune_settings(init_from: str | None) -> dict | None:
    """The ``transfer.*`` settings when a transfer run has a fine-tuning phase, else None."""
    if not init_from:
        return None
    from zoo.training.transfer import transfer_settings

    settings = transfer_settings()
    return settings if settings["fine_tune_epochs"] > 0 else None


def _check_combination(setup: Setup) -> None:
    shape = tuple(setup.data.input_shape)
    if setup.settings.test_time_augment == "flip" and len(shape) != 3:
        raise ConfigError(
            f"train.test_time_augment = 'flip' mirrors images, but {setup.settings.dataset} "
            f"gives inputs of shape {shape}: set train.test_time_augment = None."
        )
    if setup.settings.early_stopping_patience and getattr(setup.net.optimizer, "use_ema", False):
        raise ConfigError(
            "optimizer.ema_momentum averages the weights up to the end of training, "
            "but early stopping restores one epoch's own weights: set "
            "train.early_stopping_patience = 0 or optimizer.ema_momentum = None."
        )


def _describe(setup: Setup, run_dir: RunDir | None, options: RunOptions) -> None:
    """The operative config, model summary and params every later phase logs."""
    from zoo.config import operative_params, scalar_params
    from zoo.models.stats import count_params
    from zoo.training.distribute import params as distribution_params

    s = setup.settings
    trainable, frozen = count_params(setup.net)
    setup.operative_config = gin.operative_config_str()
    if run_dir is not None and not run_dir.resumed:
        run_dir.operative_config.write_text(setup.operative_config)
    setup.model_summary = model_summary(setup.net)
    from zoo.analysis.summary import layer_table

    setup.layer_table = layer_table(setup.eval_net)
    setup.params = scalar_params(operative_params())
    setup.params.update(
        {
            "zoo.model": s.model,
            "zoo.dataset": s.dataset,
            "zoo.trainable_params": trainable,
            "zoo.precision": setup.precision.policy,
            "zoo.precision_reason": setup.precision.reason,
            **scalar_params(options.params),
            **distribution_params(s, setup.distribution),
        }
    )
    if s.init_from:
        setup.params.update(
            {"phase.1.trainable_params": trainable, "phase.1.frozen_params": frozen}
        )
    if options.announce:
        print(
            f"model {s.model}: {trainable:,} trainable + {frozen:,} non-trainable parameters, "
            f"input {tuple(setup.net.input_shape)}, output {tuple(setup.net.output_shape)}",
            flush=True,
        )
        print(f"precision {setup.precision.policy}: {setup.precision.reason}", flush=True)


def model_summary(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=110)
    return "\n".join(lines)
