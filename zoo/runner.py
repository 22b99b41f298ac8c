"""One training run: recipe + bindings -> data, model, optimizer, callbacks -> fit -> test.

Every argument of :func:`run` is a gin parameter of the configurable ``train``
(``train.epochs = 10``, ``train.learning_rate = 1e-3``). A run writes
``runs/<experiment>/<run_name>/`` with ``operative_config.gin``, ``tensorboard/``,
``checkpoints/`` (``best.keras``, ``last.keras``), ``history.csv`` and ``summary.json``, and
one MLflow run of the same name in the experiment of the same name.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import gin

from zoo.errors import ConfigError, unknown

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adadelta", "adagrad", "nadam")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@dataclass
class RunResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    run_name: str
    experiment: str
    status: str
    mlflow_run_id: str | None
    tracking_uri: str | None
    history: dict[str, list[float]] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)


@gin.configurable("optimizer", module="zoo")
def make_optimizer(
    name: str = "adam",
    learning_rate: Any = 1e-3,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    rho: float = 0.95,
    ema_momentum: float | None = None,
):
    """A Keras optimizer by name; ``learning_rate`` may be a float or a schedule.

    ``ema_momentum`` (e.g. 0.99) keeps an exponential moving average of the weights (Polyak
    & Juditsky 1992) and puts it in place of the weights when training ends; the average
    spans about ``1 / (1 - ema_momentum)`` steps.
    """
    import keras

    if name not in OPTIMIZERS:
        raise unknown("optimizer", name, OPTIMIZERS)
    common: dict[str, Any] = {"learning_rate": learning_rate}
    if clipnorm:
        common["clipnorm"] = clipnorm
    if ema_momentum is not None:
        if not 0.0 < ema_momentum < 1.0:
            raise ConfigError(
                f"optimizer.ema_momentum must be between 0 and 1, not {ema_momentum}."
            )
        common.update(use_ema=True, ema_momentum=float(ema_momentum))
    if weight_decay and name != "adamw":
        common["weight_decay"] = weight_decay
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=weight_decay or 0.004, **common)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=momentum, nesterov=nesterov, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**common)
    if name == "adadelta":
        return keras.optimizers.Adadelta(rho=rho, **common)
    if name == "adagrad":
        return keras.optimizers.Adagrad(**common)
    return keras.optimizers.Nadam(**common)


def make_metrics(names: Sequence[str], target: str) -> list:
    """Metric objects by name; 'auto' picks accuracy / binary accuracy / mae+rmse by target."""
    import keras

    if names == "auto" or list(names) == ["auto"]:
        names = {
            "sparse": ["accuracy"],
            "onehot": ["accuracy"],
            "multilabel": ["binary_accuracy"],
            "regression": ["mae", "rmse"],
        }[target]
    aliases = {
        "rmse": lambda: keras.metrics.RootMeanSquaredError(name="rmse"),
        "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
        "mse": lambda: keras.metrics.MeanSquaredError(name="mse"),
        "auc": lambda: keras.metrics.AUC(name="auc"),
        "top5": lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
    }
    return [aliases[n]() if n in aliases else n for n in names]


def resolve_loss(loss: str, target: str) -> str:
    """The loss name a run uses: ``loss``, or the default for ``target`` when 'auto'."""
    from zoo import losses

    name = losses.DEFAULT_FOR_TARGET.get(target, "mse") if loss == "auto" else loss
    if name not in losses.LOSSES:
        raise unknown("loss", name, losses.LOSSES)
    return name


def build_model(model: str, data, loss_name: str, from_logits: bool = False):
    """Build registered ``model`` for ``data``: input shape, outputs and output activation."""
    from zoo import losses, registry

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

    from zoo import registry

    offered = getattr(data, "extras", {}).get("model_kwargs") or {}
    if not offered:
        return {}
    accepted = inspect.signature(registry.get_spec(model).builder).parameters
    return {k: v for k, v in offered.items() if k in accepted}


def compile_model(
    net,
    *,
    loss_name: str,
    from_logits: bool = False,
    optimizer: str = "adam",
    learning_rate: Any = 1e-3,
    metrics: Sequence[str] = ("auto",),
    target: str = "sparse",
):
    """Compile ``net`` with an optimizer, loss and metrics chosen by name."""
    from zoo import losses

    net.compile(
        optimizer=make_optimizer(optimizer, learning_rate),
        loss=losses.get(loss_name, from_logits=from_logits),
        metrics=make_metrics(metrics, target),
    )
    return net


def _default_run_name(model: str) -> str:
    return f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _find_resume_dir(runs_dir: Path, experiment: str, run_name: str | None) -> Path:
    exp_dir = runs_dir / experiment
    if run_name:
        candidates = [exp_dir / run_name]
    else:
        candidates = sorted(
            (d for d in exp_dir.glob("*") if d.is_dir()),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
    for d in candidates:
        if (d / "checkpoints" / "last.keras").is_file():
            return d
    where = exp_dir / run_name if run_name else exp_dir
    raise ConfigError(f"Nothing to resume: no checkpoints/last.keras under {where}.")


def _read_history(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    history: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                # keras' CSVLogger writes "NA" for the val_ columns of a run without validation
                if key != "epoch" and value not in (None, "", "NA"):
                    history.setdefault(key, []).append(float(value))
    return history


def _completed_epochs(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def _model_summary(model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=110)
    return "\n".join(lines)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    tmp.replace(path)


@gin.configurable("train", module="zoo")
def run(
    model: str = "cnn",
    dataset: str = "fashion_mnist",
    experiment: str = "default",
    run_name: str | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
    loss: str = "auto",
    from_logits: bool = False,
    metrics: Sequence[str] = ("auto",),
    target: str = "sparse",
    precision: str = "float32",
    seed: int = 42,
    runs_dir: str = "runs",
    checkpoint_monitor: str = "val_loss",
    early_stopping_patience: int | None = None,
    tracking_uri: str | None = None,
    mlflow: bool = True,
    tensorboard: bool = True,
    log_every_n_steps: int | None = None,
    extra_callbacks: Sequence[Any] = (),
    steps_per_epoch: int | None = None,
    schedule: str | None = None,
    reduce_on_plateau: bool = False,
    resume: bool = False,
    init_from: str | None = None,
    verbose: int | str = "auto",
    recipe: str | None = None,
    folds: int | None = None,
    fold: int | None = None,
    parent_run_id: str | None = None,
) -> RunResult:
    """Train ``model`` on ``dataset`` and evaluate it on the test split, logging everywhere.

    ``schedule`` names a learning-rate schedule (``warmup_cosine``, ``one_cycle``...; knobs
    under its own gin name) peaking at ``learning_rate``; ``reduce_on_plateau`` scales the
    rate, or the schedule, down on a plateau (knobs under ``plateau.*``).

    ``folds = k`` runs k-fold cross-validation instead (:mod:`zoo.crossval`): one nested run
    per ``fold``, and a parent run with the mean and standard deviation.
    """
    if folds and fold is None:
        arguments = {k: v for k, v in locals().items() if k != "fold"}
        from zoo.crossval import cross_validate

        return cross_validate(**arguments)
    import keras

    from callbacks.guards import NaNGuard
    from callbacks.logger import SideBySideLogger
    from callbacks.tracking import absolute_uri, log_metrics, log_params, mlflow_run, ui_command
    from zoo import datasets, registry
    from zoo.config import operative_params, scalar_params
    from zoo.stats import count_params

    if precision not in PRECISIONS:
        raise unknown("precision", precision, PRECISIONS)
    if epochs < 1:
        raise ConfigError(f"train.epochs must be at least 1, not {epochs}.")
    registry.get_spec(model)  # unknown model names fail before any work
    loss_name = resolve_loss(loss, target)

    runs_root = Path(runs_dir)
    if resume:
        run_dir = _find_resume_dir(runs_root, experiment, run_name)
        run_name = run_dir.name
        previous = (
            json.loads((run_dir / "summary.json").read_text())
            if (run_dir / "summary.json").is_file()
            else {}
        )
    else:
        run_name = run_name or _default_run_name(model)
        run_dir = runs_root / experiment / run_name
        if run_dir.exists() and any(run_dir.iterdir()):
            raise ConfigError(
                f"Run directory {run_dir} already exists: choose another train.run_name or pass --resume."
            )
        previous = {}
    ckpt_dir = run_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(seed)
    started = time.time()
    try:
        fold_kwargs = {"folds": folds, "fold": fold} if fold is not None else {}
        data = datasets.load(
            dataset, batch_size=batch_size, target=target, seed=seed, **fold_kwargs
        )
        if data.extras.get("vocabulary"):
            (run_dir / "vocabulary.txt").write_text("\n".join(data.extras["vocabulary"]) + "\n")
        _say(data.describe())
        x_batch, y_batch = next(iter(data.train))
        _say(
            f"  one batch: x {tuple(x_batch.shape)} {x_batch.dtype.name}, "
            f"y {tuple(y_batch.shape)} {y_batch.dtype.name}"
        )
        initial_epoch = 0
        run_steps = _steps_per_epoch(data, batch_size, steps_per_epoch)
        if resume:
            import zoo.models.layers  # noqa: F401  (registers zoo's own layers for loading)

            if registry.get_spec(model).task == "text":
                from zoo.models import text_layers  # noqa: F401  (custom layers for loading)
            net = keras.saving.load_model(ckpt_dir / "last.keras")
            initial_epoch = _completed_epochs(run_dir / "history.csv")
            _say(f"resuming {run_dir} after epoch {initial_epoch}")
        else:
            if init_from:
                from zoo import losses, transfer

                settings = transfer.transfer_settings()
                net = transfer.prepare(
                    init_from,
                    data.num_outputs,
                    losses.classifier_activation(loss_name, from_logits),
                    settings,
                )
                _say(f"transfer from {init_from}: {transfer.trainable_report(net)}")
            else:
                net = build_model(model, data, loss_name, from_logits)
            compile_model(
                net,
                loss_name=loss_name,
                from_logits=from_logits,
                optimizer=optimizer,
                learning_rate=_learning_rate(
                    learning_rate, schedule, reduce_on_plateau, run_steps, epochs
                ),
                metrics=metrics,
                target=target,
            )
        if early_stopping_patience and getattr(net.optimizer, "use_ema", False):
            raise ConfigError(
                "optimizer.ema_momentum averages the weights up to the end of training, "
                "but early stopping restores one epoch's own weights: set "
                "train.early_stopping_patience = 0 or optimizer.ema_momentum = None."
            )
        trainable, non_trainable = count_params(net)
        _say(
            f"model {model}: {trainable:,} trainable + {non_trainable:,} non-trainable parameters, "
            f"input {tuple(net.input_shape)}, output {tuple(net.output_shape)}, precision {precision}"
        )
        schedule_callbacks = _schedule_callbacks(net, reduce_on_plateau, run_steps)
        operative = gin.operative_config_str()
        (run_dir / "operative_config.gin").write_text(operative)
        summary_text = _model_summary(net)
        params = scalar_params(operative_params())
        params.update(
            {"zoo.model": model, "zoo.dataset": dataset, "zoo.trainable_params": trainable}
        )

        uri = None
        mlflow_ctx = (
            mlflow_run(
                experiment,
                run_name,
                uri=tracking_uri,
                run_id=previous.get("mlflow", {}).get("run_id") if resume else None,
                parent_run_id=parent_run_id,
                tags={
                    "zoo.model": model,
                    "zoo.dataset": dataset,
                    "zoo.run_dir": str(run_dir.resolve()),
                },
            )
            if mlflow
            else _no_mlflow()
        )
        summary: dict[str, Any] = {
            "run_name": run_name,
            "experiment": experiment,
            "recipe": recipe,
            "model": model,
            "dataset": dataset,
            "status": "RUNNING",
            "trainable_params": trainable,
            "non_trainable_params": non_trainable,
            "input_shape": list(data.input_shape),
            "precision": precision,
        }
        history: dict[str, list[float]] = {}
        test_metrics: dict[str, float] = {}
        with mlflow_ctx as handle:
            if handle is not None:
                from callbacks.tracking import tracking_uri as current_uri

                uri = absolute_uri(current_uri())
                summary["mlflow"] = {"tracking_uri": uri, "run_id": handle.run_id}
                if not resume:
                    log_params(handle.client, handle.run_id, params)
            logger = SideBySideLogger(
                run_dir / "tensorboard" if tensorboard else None,
                handle.client if handle else None,
                handle.run_id if handle else None,
                hparams=params if not resume else None,
                operative_config=operative if not resume else None,
                model_summary=summary_text if not resume else None,
                log_every_n_steps=log_every_n_steps,
            )
            has_val = data.validation is not None
            monitor = (
                checkpoint_monitor
                if has_val or not checkpoint_monitor.startswith("val_")
                else "loss"
            )
            nan_guard = NaNGuard()
            csv_logger = keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=resume)
            cbs = [
                *schedule_callbacks,
                logger,
                csv_logger,
                keras.callbacks.ModelCheckpoint(str(ckpt_dir / "last.keras")),
                keras.callbacks.ModelCheckpoint(
                    str(ckpt_dir / "best.keras"), monitor=monitor, save_best_only=True
                ),
                nan_guard,
                *extra_callbacks,
            ]
            if early_stopping_patience:
                cbs.append(
                    keras.callbacks.EarlyStopping(
                        monitor=monitor, patience=early_stopping_patience, restore_best_weights=True
                    )
                )
            fit_verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else verbose
            status = "FAILED"
            try:
                if initial_epoch >= epochs:
                    _say(f"already trained for {initial_epoch} epochs (train.epochs = {epochs}).")
                else:
                    _say(f"training for {epochs - initial_epoch} epochs -> {run_dir}")
                    net.fit(
                        data.train,
                        validation_data=data.validation,
                        epochs=epochs,
                        initial_epoch=initial_epoch,
                        steps_per_epoch=steps_per_epoch,
                        callbacks=cbs,
                        verbose=fit_verbose,
                        shuffle=False,
                    )
                fine_tune = transfer_settings_if(init_from)
                if fine_tune and not nan_guard.reason and not net.stop_training:
                    from zoo import transfer

                    transfer.unfreeze(net, from_layer=fine_tune["fine_tune_from"])
                    compile_model(
                        net,
                        loss_name=loss_name,
                        from_logits=from_logits,
                        optimizer=optimizer,
                        learning_rate=_learning_rate(
                            fine_tune["fine_tune_learning_rate"],
                            None,
                            reduce_on_plateau,
                            run_steps,
                            fine_tune["fine_tune_epochs"],
                        ),
                        metrics=metrics,
                        target=target,
                    )
                    _say(
                        f"fine-tuning for {fine_tune['fine_tune_epochs']} epochs: "
                        + transfer.trainable_report(net)
                    )
                    csv_logger.append = True
                    net.fit(
                        data.train,
                        validation_data=data.validation,
                        epochs=epochs + fine_tune["fine_tune_epochs"],
                        initial_epoch=epochs,
                        steps_per_epoch=steps_per_epoch,
                        callbacks=cbs,
                        verbose=fit_verbose,
                        shuffle=False,
                    )
                if getattr(net.optimizer, "use_ema", False) and not nan_guard.reason:
                    # fit() has put the averaged weights in place: they are what gets tested
                    net.save(ckpt_dir / "last.keras")
                    _say("weights: the exponential moving average (optimizer.ema_momentum)")
                history = _read_history(run_dir / "history.csv")
                if nan_guard.reason:
                    summary["failure"] = nan_guard.reason
                    if handle is not None:
                        handle.fail(nan_guard.reason)
                    _say(f"stopped: {nan_guard.reason}")
                    status = "FAILED"
                else:
                    if data.test is not None:
                        test_metrics = net.evaluate(data.test, return_dict=True, verbose=0)
                        test_metrics = {f"test_{k}": float(v) for k, v in test_metrics.items()}
                        step = max(len(next(iter(history.values()), [])) - 1, 0)
                        logger.log(test_metrics, step)
                    status = "FINISHED"
                    if data.extras.get("vocabulary"):
                        from zoo.text import log_run_embeddings

                        log_run_embeddings(net, data.extras["vocabulary"], run_dir, handle)
            except KeyboardInterrupt:
                status = "KILLED"
                summary["failure"] = "interrupted"
                raise
            except Exception as exc:
                summary["failure"] = f"{type(exc).__name__}: {exc}"[:500]
                raise
            finally:
                logger.close()
                history = history or _read_history(run_dir / "history.csv")
                summary.update(
                    status=status,
                    epochs_completed=_completed_epochs(run_dir / "history.csv"),
                    final_metrics={k: v[-1] for k, v in history.items() if v},
                    test_metrics=test_metrics,
                    wall_time_s=round(time.time() - started + previous.get("wall_time_s", 0.0), 2),
                )
                if history and monitor in history:
                    values = history[monitor]
                    best = (
                        min(range(len(values)), key=values.__getitem__)
                        if "acc" not in monitor
                        else max(range(len(values)), key=values.__getitem__)
                    )
                    summary["best"] = {"monitor": monitor, "epoch": best, "value": values[best]}
                _write_json(run_dir / "summary.json", summary)
                if handle is not None:
                    _log_end_artifacts(handle, run_dir, summary)
                    if summary.get("wall_time_s"):
                        log_metrics(
                            handle.client, handle.run_id, {"wall_time_s": summary["wall_time_s"]}, 0
                        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)

    result = RunResult(
        run_dir=run_dir,
        run_name=run_name,
        experiment=experiment,
        status=summary["status"],
        mlflow_run_id=summary.get("mlflow", {}).get("run_id"),
        tracking_uri=uri,
        history=history,
        test_metrics=test_metrics,
        summary=summary,
    )
    if test_metrics:
        _say("test: " + "  ".join(f"{k[5:]} {v:.4f}" for k, v in test_metrics.items()))
    _say(f"run directory: {run_dir}")
    if tensorboard:
        _say(f"TensorBoard:   tensorboard --logdir {runs_root / experiment}")
    if uri:
        _say(f"MLflow:        {ui_command(uri)}   (experiment '{experiment}', run '{run_name}')")
    return result


def transfer_settings_if(init_from: str | None) -> dict | None:
    """The ``transfer.*`` settings when a transfer run has a fine-tuning phase, else None."""
    if not init_from:
        return None
    from zoo.transfer import transfer_settings

    settings = transfer_settings()
    return settings if settings["fine_tune_epochs"] > 0 else None


def _steps_per_epoch(data, batch_size: int, steps_per_epoch: int | None) -> int:
    """Optimizer steps in one epoch: ``train.steps_per_epoch``, else batches in the train split."""
    import math

    if steps_per_epoch:
        return int(steps_per_epoch)
    cardinality = int(data.train.cardinality())
    if cardinality > 0:
        return cardinality
    return max(math.ceil(data.sizes.get("train", batch_size) / batch_size), 1)


def _learning_rate(
    learning_rate: float, schedule: str | None, plateau: bool, steps_per_epoch: int, epochs: int
):
    """``train.learning_rate``, or the schedule ``train.schedule`` built on it; a plateau
    reduction without a schedule scales a constant schedule (saved with the model)."""
    if schedule is None and not plateau:
        return learning_rate
    from callbacks.schedule_config import make_schedule

    return make_schedule(schedule or "constant", learning_rate, steps_per_epoch, epochs)


def _schedule_callbacks(net, plateau: bool, steps_per_epoch: int) -> list:
    """The plateau callback (first, so its ``lr_factor`` reaches the logs) and the callback
    that aligns a schedule with the epoch a run starts at."""
    from callbacks.schedule_config import plateau as make_plateau
    from callbacks.schedules import SchedulePosition, ZooSchedule

    cbs: list = [make_plateau()] if plateau else []
    if plateau or isinstance(getattr(net.optimizer, "_learning_rate", None), ZooSchedule):
        cbs.append(SchedulePosition(steps_per_epoch))
    return cbs


def _log_end_artifacts(handle, run_dir: Path, summary: dict) -> None:
    import contextlib

    with contextlib.suppress(Exception):
        handle.client.log_artifact(handle.run_id, str(run_dir / "summary.json"))
        if (run_dir / "history.csv").is_file():
            handle.client.log_artifact(handle.run_id, str(run_dir / "history.csv"))


class _no_mlflow:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _with_log_softmax(net):
    """Append a log-softmax to a linear-output model, for the ``nll`` loss."""
    import keras

    out = keras.layers.Activation("log_softmax", dtype="float32", name="log_probs")(net.output)
    return keras.Model(net.inputs, out, name=net.name)


def train(
    recipe: str | Path | None = None, bindings: Sequence[str] = (), **overrides: Any
) -> RunResult:
    """Parse ``recipe`` and ``bindings`` with gin, then run ``train`` (``overrides`` win).

    ``zoo.train("fashion_cnn", ["train.epochs = 2"])`` or ``zoo.train("x.gin", epochs=2)``.
    """
    from zoo.config import parse

    path = parse(recipe, bindings, clear=recipe is not None or bool(bindings))
    if path is not None:
        overrides.setdefault("recipe", str(path))
    return run(**overrides)
