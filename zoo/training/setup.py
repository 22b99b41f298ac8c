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

from zoo.errors import ConfigError
from zoo.tracking.rundir import RunDir
from zoo.training.optimizers import compile_model, resolve_loss
from zoo.training.settings import RunOptions, Settings, TrainSettings
from zoo.training.transfer import TransferSettings


@dataclass(frozen=True)
class Setup:
    """A run ready to fit, made whole by :func:`prepare`: its settings, data, compiled model,
    the callbacks its schedule needs and what gets logged. Nothing assigns into it later;
    a tuner that trains another model object makes a copy (``dataclasses.replace``)."""

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
    plateau: Any = None  # callbacks.plateau.PlateauScaler with train.reduce_on_plateau
    schedule_position: Any = None  # callbacks.schedules.SchedulePosition for a schedule
    fine_tune: TransferSettings | None = None  # a transfer run's fine-tuning phase
    distribution: Any = None  # zoo.training.distribute.Distribution

    @property
    def schedule_callbacks(self) -> list:
        """The plateau callback (first, so its ``lr_factor`` reaches the logs) and the
        callback that aligns a schedule with the epoch a fit starts at."""
        return [cb for cb in (self.plateau, self.schedule_position) if cb is not None]

    @functools.cached_property
    def layer_table(self) -> str:
        """The layers of ``eval_net`` as a text table (logged beside the model summary)."""
        from zoo.analysis.summary import layer_table

        return layer_table(self.eval_net)

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
        ``train.test_time_augment`` its outputs averaged over the views it names (built on
        ``eval_net``'s weights, never saved)."""
        mode = self.settings.test_time_augment
        if mode is None:
            return self.eval_net
        from zoo.datasets.augment import test_time_views
        from zoo.training.optimizers import compile_model

        return compile_model(
            test_time_views(self.eval_net, mode), self.settings, 1e-3, self.loss_name
        )


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


def prepare(settings: Settings, run_dir: RunDir | None, options: RunOptions) -> Setup:
    """Seed, load the data, build (or load, or transfer) and compile the model: the whole
    :class:`Setup`, from the ``settings`` the settings phase read."""
    import keras

    from zoo import datasets
    from zoo.config import operative_config
    from zoo.training import distribute
    from zoo.training.hardware import choose_precision

    train = settings.train
    dist = distribute.start(train, settings.distribute)  # first: before TensorFlow starts
    choice = choose_precision(train.precision)
    keras.mixed_precision.set_global_policy(choice.policy)
    keras.utils.set_random_seed(train.seed)
    if train.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    loss_name = resolve_loss(train.loss, train.target)
    fold = {"folds": train.folds, "fold": options.fold} if options.fold is not None else {}
    with as_config_error(f"loading dataset {train.dataset!r}"):
        data = datasets.load(
            train.dataset,
            batch_size=train.batch_size,
            target=train.target,
            seed=train.seed,
            **fold,
        )
    data = distribute.shard(data, dist)
    if run_dir is not None and data.extras.get("vocabulary"):
        run_dir.vocabulary.write_text("\n".join(data.extras["vocabulary"]) + "\n")
    first_batch = _say_data(data, options)
    if run_dir is not None and run_dir.resumed:
        _skip_shuffles(data, run_dir.completed_epochs, train.steps_per_epoch)
    steps = steps_per_epoch(data, train)
    initial_epoch = 0
    with distribute.scope(dist):  # build, compile and load under the strategy
        if run_dir is not None and run_dir.resumed and run_dir.completed_epochs:
            net = _load_checkpoint(run_dir)
            initial_epoch = run_dir.completed_epochs
        else:
            with as_config_error(f"building model {train.model!r} and its optimizer"):
                net = _new_model(settings, data, loss_name, steps, dist, first_batch)
        distribute.adopt(net, dist)
    if isinstance(net.output, dict):  # GoogLeNet's auxiliary classifiers
        from zoo.models.googlenet import aux_targets

        for split in ("train", "validation"):
            if getattr(data, split) is not None:
                setattr(data, split, getattr(data, split).map(aux_targets))
    with as_config_error("setting up the learning-rate callbacks"):
        plateau, position = schedule_callbacks(train, net, steps)
    _check_combination(train, data, net)
    setup = Setup(
        settings=train,
        data=data,
        net=net,
        loss_name=loss_name,
        precision=choice,
        steps_per_epoch=steps,
        initial_epoch=initial_epoch,
        operative_config=operative_config(),  # after everything gin configures ran
        model_summary=model_summary(net),
        params=_params(train, net, choice, dist, options),
        plateau=plateau,
        schedule_position=position,
        fine_tune=fine_tune_settings(settings),
        distribution=dist,
    )
    _describe(setup, run_dir, options)
    return setup


def _say_data(data, options: RunOptions):
    """Describe the data and one batch, and return the batch's inputs (a patch-whitening
    layer is computed from them). The batch is drawn whatever ``announce`` says: it
    advances the random state, and a trial must build its model from the same state as the
    run it stands for."""
    x, y = next(iter(data.train))
    if options.announce:
        print(data.describe(), flush=True)
        print(
            f"  one batch: x {tuple(x.shape)} {x.dtype.name}, y {tuple(y.shape)} {y.dtype.name}",
            flush=True,
        )
    return x


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


def schedule_callbacks(settings: TrainSettings, net, steps_per_epoch: int) -> tuple:
    """The plateau callback with ``train.reduce_on_plateau`` and the callback that aligns a
    schedule with the epoch a fit starts at (each None when not needed)."""
    from callbacks.schedule_config import plateau as make_plateau
    from callbacks.schedules import SchedulePosition, ZooSchedule
    from zoo._compat import learning_rate_of

    plateau = make_plateau() if settings.reduce_on_plateau else None
    schedule = learning_rate_of(net.optimizer)
    position = None
    if plateau is not None or isinstance(schedule, ZooSchedule):
        position = SchedulePosition(steps_per_epoch)
    return plateau, position


def _new_model(settings: Settings, data, loss_name: str, steps: int, dist, first_batch):
    from zoo.training import distribute

    s = settings.train
    if s.init_from:
        from zoo.training import losses, transfer

        net = transfer.prepare(
            s.init_from,
            data.num_outputs,
            losses.classifier_activation(loss_name, s.from_logits),
            settings.transfer,
            input_shape=data.input_shape,
        )
        print(f"transfer from {s.init_from}: {transfer.trainable_report(net)}", flush=True)
    else:
        net = build_model(s.model, data, loss_name, s.from_logits)
        _adapt_whitening(net, first_batch)
    rate = distribute.learning_rate(s, dist, steps)
    if rate is None:  # no linear scaling rule
        rate = learning_rate(s, s.learning_rate, steps, s.epochs, s.schedule)
    return compile_model(net, s, rate, loss_name)


def _load_checkpoint(run_dir: RunDir):
    from zoo.models.saving import load_model
    from zoo.training.checkpoints import restore_random_states

    net = load_model(run_dir.last, action="resume")
    restore_random_states(net, run_dir.last)
    print(f"resuming {run_dir.path} after epoch {run_dir.completed_epochs}", flush=True)
    return net


def _adapt_whitening(net, images) -> None:
    """Compute a new model's patch-whitening layers (``cnn.whiten``) from ``images``."""
    from zoo.models.layers import adapt_patch_whitening

    count = adapt_patch_whitening(net, images)
    if count:
        print(
            f"patch whitening: {count} layer(s) set from {len(images)} training images", flush=True
        )


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


def fine_tune_settings(settings: Settings) -> TransferSettings | None:
    """The ``transfer.*`` settings when a transfer run has a fine-tuning phase, else None."""
    transfer = settings.transfer
    if transfer is None or transfer.fine_tune_epochs <= 0:
        return None
    return transfer


def _check_combination(settings: TrainSettings, data, net) -> None:
    shape = tuple(data.input_shape)
    if settings.test_time_augment and len(shape) != 3:
        raise ConfigError(
            f"train.test_time_augment = {settings.test_time_augment!r} mirrors images, but "
            f"{settings.dataset} gives inputs of shape {shape}: set train.test_time_augment = None."
        )
    if settings.early_stopping_patience and getattr(net.optimizer, "use_ema", False):
        raise ConfigError(
            "optimizer.ema_momentum averages the weights up to the end of training, "
            "but early stopping restores one epoch's own weights: set "
            "train.early_stopping_patience = 0 or optimizer.ema_momentum = None."
        )


def _params(settings: TrainSettings, net, choice, dist, options: RunOptions) -> dict[str, Any]:
    """The params every tracker logs: the operative config's, and the run's own."""
    from zoo.config import operative_params, scalar_params
    from zoo.models.stats import count_params
    from zoo.training.distribute import params as distribution_params

    trainable, frozen = count_params(net)
    params = scalar_params(operative_params())
    params.update(
        {
            "zoo.model": settings.model,
            "zoo.dataset": settings.dataset,
            "zoo.trainable_params": trainable,
            "zoo.precision": choice.policy,
            "zoo.precision_reason": choice.reason,
            **scalar_params(options.params),
            **distribution_params(settings, dist),
        }
    )
    if settings.init_from:
        params.update({"phase.1.trainable_params": trainable, "phase.1.frozen_params": frozen})
    return params


def _describe(setup: Setup, run_dir: RunDir | None, options: RunOptions) -> None:
    """Save the operative config of a new run; say what model and precision it trains."""
    from zoo.models.stats import count_params

    if run_dir is not None and not run_dir.resumed:
        run_dir.operative_config.write_text(setup.operative_config)
    if options.announce:
        s = setup.settings
        trainable, frozen = count_params(setup.net)
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
