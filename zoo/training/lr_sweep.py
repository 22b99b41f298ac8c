"""``zoo find-lr``: the learning-rate range test on a recipe's own setup.

The sweep (:func:`callbacks.lr_finder.lr_range_test`) trains the model, data, optimizer and
loss that ``zoo train`` would build for the recipe (the same setup and tracking phases), at a
rate that grows step by step; no schedule, no checkpoints, no test evaluation.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from callbacks.lr_finder import LRFinderResult, lr_range_test, plot, sweep_rates

KIND = "find-lr"  # a sweep's ``kind`` in its summary and MLflow tag (``zoo compare`` reads it)


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
    from zoo.training.settings import RunOptions, read_settings
    from zoo.training.setup import global_policy_kept, prepare
    from zoo.training.stops import StopGuard
    from zoo.training.track import open_tracking

    path = parse(recipe, bindings)
    rates = sweep_rates(min_lr, max_lr, steps)  # validate before loading anything
    whole = read_settings(learning_rate=rates[0], schedule=None, reduce_on_plateau=False)
    settings = whole.train
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
        tags={"zoo.kind": KIND},
    )
    with StopGuard() as guard, global_policy_kept():
        setup = prepare(whole, run_dir, options)
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
    from zoo.tracking.rundir import write_json

    s = setup.settings
    result.run_dir = run_dir.path
    _write_csv(run_dir.sweep_csv, rows)
    result.plot = plot(result, run_dir.sweep_plot, f"LR range test: {s.model} on {s.dataset}")
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
        "kind": KIND,
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
        for artifact in (run_dir.sweep_plot, run_dir.sweep_csv, run_dir.summary):
            handle.log_artifact(artifact)


def _write_csv(path: Path, rows) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "learning_rate", "loss", "smoothed_loss"])
        w.writerows(rows)
