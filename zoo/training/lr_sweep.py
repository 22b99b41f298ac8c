"""``zoo find-lr``: the learning-rate range test on a recipe's own setup.

The sweep (:func:`callbacks.lr_finder.lr_range_test`) trains the model, data, optimizer and
loss that ``zoo train`` would build for the recipe (the same setup and tracking phases), at a
rate that grows step by step; no schedule, no checkpoints, no test evaluation.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from callbacks.lr_finder import LRFinderResult, lr_range_test, plot, sweep_rates
from zoo.errors import ConfigError


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
    from zoo.config import parse
    from zoo.training import rundir
    from zoo.training.settings import RunOptions, current_settings
    from zoo.training.setup import global_policy_kept, prepare
    from zoo.training.stops import StopGuard
    from zoo.training.track import open_tracking

    path = parse(recipe, bindings)
    rates = sweep_rates(min_lr, max_lr, steps)  # validate before loading anything
    settings = current_settings(learning_rate=rates[0], schedule=None, reduce_on_plateau=False)
    if mlflow:
        from zoo.tracking import check_store

        check_store(settings.tracking_uri)
    name = run_name or f"find-lr-{settings.model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = rundir.create(
        runs_dir or settings.runs_dir, settings.experiment, name, settings.model
    )
    sweep = {"min_lr": min_lr, "max_lr": max_lr, "steps": steps, "beta": beta, "diverge": diverge}
    options = RunOptions(
        recipe=str(path) if path else None,
        run_dir=run_dir.path,
        run_name=name,
        mlflow=mlflow,
        tensorboard=tensorboard,
        test=False,
        checkpoints=False,
        params={f"lr_finder.{k}": v for k, v in sweep.items()},
        tags={"zoo.kind": "find-lr"},
    )
    with StopGuard() as guard, global_policy_kept():
        setup = prepare(settings, run_dir, options)
        with open_tracking(setup, run_dir, options) as (handle, logger), guard.deferred():
            logger.write_header()
            rows: list[tuple[int, float, float, float]] = []

            def record(i, rate, loss, value):
                rows.append((i, rate, loss, value))
                logger.log({"learning_rate": rate, "loss": loss, "smoothed_loss": value}, i)
                guard.check()

            result = lr_range_test(
                setup.net,
                setup.data.train,
                min_lr=min_lr,
                max_lr=max_lr,
                steps=steps,
                beta=beta,
                diverge=diverge,
                skip_start=skip_start,
                on_step=record,
            )
            _record(result, rows, setup, run_dir, handle, logger, sweep, options)
    return result


def _record(result, rows, setup, run_dir, handle, logger, sweep, options) -> None:
    """The sweep's CSV, plot, summary and final metrics, on disk and in both trackers."""
    from callbacks.lr_finder import tensorboard_extras
    from zoo.training.rundir import write_json

    s = setup.settings
    result.run_dir = run_dir.path
    _write_csv(run_dir.path / "lr_finder.csv", rows)
    result.plot = plot(
        result, run_dir.path / "lr_finder.png", f"LR range test: {s.model} on {s.dataset}"
    )
    final = {"lr_finder_seconds": result.seconds}
    if result.suggestion:
        final["suggested_learning_rate"] = result.suggestion
    if result.min_loss_learning_rate:
        final["min_loss_learning_rate"] = result.min_loss_learning_rate
    if logger.writer is not None:
        tensorboard_extras(logger.writer, result)
    if handle is not None:
        handle.log_metrics(final, 0)
        result.mlflow_run_id = handle.run_id
        result.extras["tracking_uri"] = handle.uri
    summary = {
        "kind": "find-lr",
        "recipe": options.recipe,
        "model": s.model,
        "dataset": s.dataset,
        "optimizer": s.optimizer,
        "batch_size": s.batch_size,
        **sweep,
        "steps_done": len(result.losses),
        "diverged": result.diverged,
        "suggested_learning_rate": result.suggestion,
        "min_loss_learning_rate": result.min_loss_learning_rate,
        "seconds": round(result.seconds, 2),
        "mlflow_run_id": result.mlflow_run_id,
    }
    write_json(run_dir.summary, summary)
    if handle is not None:
        for artifact in ("lr_finder.png", "lr_finder.csv", "summary.json"):
            handle.log_artifact(run_dir.path / artifact)


def _write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "learning_rate", "loss", "smoothed_loss"])
        w.writerows(rows)


# -- the CLI ---------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``zoo find-lr``."""
    from zoo.cli_args import add_recipe_arguments

    add_recipe_arguments(p)
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
        from zoo.tracking import ui_command

        print(f"MLflow:        {ui_command(result.extras['tracking_uri'])}")
    return 0
