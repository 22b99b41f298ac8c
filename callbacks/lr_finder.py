"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural
Networks", sec. 3.3; Smith 2018, sec. 4.1): ``zoo find-lr RECIPE``.

Train for a few hundred steps while the rate grows exponentially from ``min_lr`` to
``max_lr``; record each batch's loss, smooth it with a bias-corrected exponential moving
average, stop when the smoothed loss exceeds ``diverge`` times its minimum (or is NaN). The
suggested rate is where the smoothed loss falls fastest against log10(rate), between the
first ``skip_start`` steps and the minimum of the smoothed loss. It is a good constant rate
and a good peak for ``warmup_cosine`` or ``one_cycle``.

Results go to ``runs/<experiment>/<name>/`` (``lr_finder.csv``, ``lr_finder.png``,
``summary.json``), to TensorBoard (scalars ``learning_rate``, ``loss``, ``smoothed_loss`` at
step = sweep step, the plot as an image) and to one MLflow run of the same name (the same
metrics, ``suggested_learning_rate``, the plot and the CSV as artifacts).
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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
    ``skip_start`` steps) to the minimum of the smoothed loss (after it, the loss only rises).
    """
    import numpy as np

    lrs = np.asarray(learning_rates, dtype=float)
    loss = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(loss)
    if finite.sum() < 3:
        return None, None
    lrs, loss = lrs[finite], loss[finite]
    n = len(loss)
    lowest = int(np.argmin(loss))
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
    if isinstance(optimizer._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
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
    """Loss (raw and smoothed) against the rate, log x axis, suggestion marked; a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
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
    fig.savefig(path)
    plt.close(fig)
    return path


def _train_setting(name: str, default: Any) -> Any:
    """``train.<name>`` as bound in the parsed recipe, else the runner's default."""
    import gin

    try:
        return gin.query_parameter(f"train.{name}")
    except ValueError:
        return default


def find_lr(
    recipe: str | Path | None = None,
    bindings: Sequence[str] = (),
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    beta: float = 0.98,
    diverge: float = 4.0,
    skip_start: int = 10,
    run_name: str | None = None,
    runs_dir: str | None = None,
    mlflow: bool = True,
    tensorboard: bool = True,
) -> LRFinderResult:
    """Range-test the model, data, optimizer and loss of ``recipe`` (with ``bindings``).

    ``zoo.find_lr("digits_cnn", ["digits.train_size = 300"], steps=60).suggestion``
    """
    import inspect

    import gin
    import keras

    from callbacks.logger import SideBySideLogger
    from callbacks.tracking import absolute_uri, log_metrics, log_params, mlflow_run
    from callbacks.tracking import tracking_uri as current_uri
    from zoo import datasets, runner
    from zoo.config import parse, scalar_params

    parse(recipe, bindings)
    defaults = {
        k: p.default for k, p in inspect.signature(runner.run.__wrapped__).parameters.items()
    }
    setting = {k: _train_setting(k, v) for k, v in defaults.items()}
    model_name, dataset_name = setting["model"], setting["dataset"]
    experiment = setting["experiment"]
    runs_root = Path(runs_dir or setting["runs_dir"])
    name = run_name or f"find-lr-{model_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = runs_root / experiment / name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"Run directory {run_dir} already exists: choose another --run-name.")
    run_dir.mkdir(parents=True, exist_ok=True)
    rates = sweep_rates(min_lr, max_lr, steps)  # validate before loading anything

    previous_policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy(setting["precision"])
    keras.utils.set_random_seed(setting["seed"])
    try:
        data = datasets.load(
            dataset_name,
            batch_size=setting["batch_size"],
            target=setting["target"],
            seed=setting["seed"],
        )
        loss_name = runner.resolve_loss(setting["loss"], setting["target"])
        net = runner.build_model(model_name, data, loss_name, setting["from_logits"])
        runner.compile_model(
            net,
            loss_name=loss_name,
            from_logits=setting["from_logits"],
            optimizer=setting["optimizer"],
            learning_rate=rates[0],
            metrics=setting["metrics"],
            target=setting["target"],
        )
        operative = gin.operative_config_str()
        (run_dir / "operative_config.gin").write_text(operative)
        sweep = {
            "lr_finder.min_lr": min_lr,
            "lr_finder.max_lr": max_lr,
            "lr_finder.steps": steps,
            "lr_finder.beta": beta,
            "lr_finder.diverge": diverge,
        }
        from zoo.config import operative_params

        used = (
            "model",
            "dataset",
            "batch_size",
            "optimizer",
            "loss",
            "target",
            "precision",
            "seed",
        )
        run_params = {f"train.{k}": setting[k] for k in used}
        params = {**scalar_params({**operative_params(), **run_params}), **sweep}
        ctx = (
            mlflow_run(
                experiment,
                name,
                uri=setting["tracking_uri"],
                tags={"zoo.kind": "find-lr", "zoo.model": model_name, "zoo.dataset": dataset_name},
            )
            if mlflow
            else _Nothing()
        )
        with ctx as handle:
            if handle is not None:
                log_params(handle.client, handle.run_id, params)
            logger = SideBySideLogger(
                run_dir / "tensorboard" if tensorboard else None,
                handle.client if handle else None,
                handle.run_id if handle else None,
                operative_config=operative,
            )
            logger.write_header()
            rows: list[tuple[int, float, float, float]] = []

            def record(i, rate, loss, value):
                rows.append((i, rate, loss, value))
                logger.log({"learning_rate": rate, "loss": loss, "smoothed_loss": value}, i)

            try:
                result = lr_range_test(
                    net,
                    data.train,
                    min_lr=min_lr,
                    max_lr=max_lr,
                    steps=steps,
                    beta=beta,
                    diverge=diverge,
                    skip_start=skip_start,
                    on_step=record,
                )
                result.run_dir = run_dir
                _write_csv(run_dir / "lr_finder.csv", rows)
                result.plot = plot(
                    result,
                    run_dir / "lr_finder.png",
                    f"LR range test: {model_name} on {dataset_name}",
                )
                final = {}
                if result.suggestion:
                    final["suggested_learning_rate"] = result.suggestion
                if result.min_loss_learning_rate:
                    final["min_loss_learning_rate"] = result.min_loss_learning_rate
                final["lr_finder_seconds"] = result.seconds
                if logger.writer is not None:
                    _tensorboard_extras(logger.writer, result)
                if handle is not None:
                    log_metrics(handle.client, handle.run_id, final, 0)
                    for artifact in ("lr_finder.png", "lr_finder.csv"):
                        handle.client.log_artifact(handle.run_id, str(run_dir / artifact))
                    result.mlflow_run_id = handle.run_id
                    result.extras["tracking_uri"] = absolute_uri(current_uri())
            finally:
                logger.close()
        summary = {
            "kind": "find-lr",
            "recipe": str(recipe) if recipe is not None else None,
            "model": model_name,
            "dataset": dataset_name,
            "optimizer": setting["optimizer"],
            "batch_size": setting["batch_size"],
            **{k.split(".")[1]: v for k, v in sweep.items()},
            "steps_done": len(result.losses),
            "diverged": result.diverged,
            "suggested_learning_rate": result.suggestion,
            "min_loss_learning_rate": result.min_loss_learning_rate,
            "seconds": round(result.seconds, 2),
            "mlflow_run_id": result.mlflow_run_id,
        }
        _write_json(run_dir / "summary.json", summary)
        if handle is not None:
            from callbacks.tracking import client

            client(setting["tracking_uri"]).log_artifact(
                result.mlflow_run_id, str(run_dir / "summary.json")
            )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return result


def _tensorboard_extras(writer, result: LRFinderResult) -> None:
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


def _write_csv(path: Path, rows) -> None:
    import csv

    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "learning_rate", "loss", "smoothed_loss"])
        w.writerows(rows)


def _write_json(path: Path, data: dict) -> None:
    import json

    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


# -- the CLI ---------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``zoo find-lr``."""
    p.add_argument(
        "recipe", help="a .gin file, or the name of a bundled recipe (zoo list --recipes)"
    )
    p.add_argument(
        "--bind",
        "-b",
        action="append",
        default=[],
        metavar="K=V",
        help="gin binding that overrides the recipe (repeatable)",
    )
    p.add_argument("--min-lr", type=float, default=1e-7, help="first rate of the sweep (1e-7)")
    p.add_argument("--max-lr", type=float, default=10.0, help="last rate of the sweep (10)")
    p.add_argument("--steps", type=int, default=100, help="training steps of the sweep (100)")
    p.add_argument(
        "--smoothing", type=float, default=0.98, help="moving-average factor of the loss (0.98)"
    )
    p.add_argument(
        "--diverge",
        type=float,
        default=4.0,
        help="stop when the smoothed loss exceeds this many times its minimum (4)",
    )
    p.add_argument("--run-name", help="run folder and MLflow run name (find-lr-MODEL-TIME)")
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")


def main(args: argparse.Namespace) -> int:
    """``zoo find-lr``: run the sweep, print the suggestion and where the plot is."""
    if not 0.0 <= args.smoothing < 1.0:
        raise ConfigError(f"--smoothing must lie in [0, 1), not {args.smoothing}.")
    if args.diverge <= 1.0:
        raise ConfigError(f"--diverge must be greater than 1, not {args.diverge}.")
    result = find_lr(
        args.recipe,
        args.bind,
        min_lr=args.min_lr,
        max_lr=args.max_lr,
        steps=args.steps,
        beta=args.smoothing,
        diverge=args.diverge,
        run_name=args.run_name,
        mlflow=not args.no_mlflow,
    )
    stop = "diverged" if result.diverged else "reached --max-lr"
    print(
        f"swept {len(result.losses)} steps from {result.learning_rates[0]:.2e} to "
        f"{result.learning_rates[-1]:.2e} ({stop}) in {result.seconds:.1f} s"
    )
    if result.suggestion is None:
        print("no suggestion: the loss did not decrease; widen the range or add --steps.")
    else:
        print(f"suggested learning rate (steepest descent): {result.suggestion:.3g}")
        print(f"minimum of the smoothed loss at:             {result.min_loss_learning_rate:.3g}")
        print(f"  use it: --bind train.learning_rate={result.suggestion:.3g}")
    print(f"plot:          {result.plot}")
    print(f"TensorBoard:   tensorboard --logdir {result.run_dir}")
    if result.mlflow_run_id:
        from callbacks.tracking import ui_command

        print(f"MLflow:        {ui_command(result.extras['tracking_uri'])}")
    return 0
