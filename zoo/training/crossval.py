"""k-fold cross-validation: one training run per fold, and a parent run with the statistics.

``zoo train mr_kim_cnn --folds 10`` (or ``train.folds = 10``) calls :func:`cross_validate`
with the run's settings and options; every fold is an ordinary run (:func:`zoo.training.run.run`). Fold ``i`` (1-based in names, 0-based for the loader) is a
complete run in ``runs/<experiment>/<name>/fold-<i>/`` (its own TensorBoard folder) and a
nested MLflow run under the parent run ``<name>``. The parent reports, for every test metric,
the mean and the sample standard deviation over the folds (MLflow metrics ``cv_mean_<m>`` and
``cv_std_<m>``, the per-fold values as ``fold_<m>`` with step = fold index) and writes them to
its ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import numpy as np

from zoo.errors import ConfigError
from zoo.tracking.rundir import write_json
from zoo.training import rundir
from zoo.training.record import RunResult
from zoo.training.run import run
from zoo.training.settings import RunOptions, Settings


def fold_statistics(per_fold: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean, sample standard deviation, min and max of each metric over the folds."""
    keys = sorted({k for metrics in per_fold for k in metrics})
    stats = {}
    for key in keys:
        values = np.asarray([m[key] for m in per_fold if key in m], dtype="float64")
        stats[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return stats


def _check_loader(dataset: str) -> None:
    from zoo import datasets

    if not datasets.supports_folds(dataset):
        raise ConfigError(
            f"dataset {dataset!r} does not support cross-validation (no fold argument): "
            "use a text dataset such as mr, or drop --folds."
        )


def cross_validate(run_settings: Settings, options: RunOptions) -> RunResult:
    """Run once per fold (``options.fold`` set); return the parent's RunResult."""
    from zoo.tracking import mlflow_run

    settings = run_settings.train

    folds = int(settings.folds)
    if options.resume:
        raise ConfigError("--resume does not combine with --folds: start a new run.")
    _check_loader(settings.dataset)
    if options.mlflow:
        from zoo.tracking import check_store

        check_store(settings.tracking_uri)
    name = settings.run_name or rundir.default_run_name(f"{settings.model}-cv{folds}")
    parent = rundir.create(settings.runs_dir, settings.experiment, name, settings.model)
    started = time.time()
    summary: dict[str, Any] = {
        "run_name": name,
        "experiment": settings.experiment,
        "model": settings.model,
        "dataset": settings.dataset,
        "folds": folds,
        "status": "RUNNING",
        "fold_runs": [],
    }
    uri = None
    status = "FAILED"
    try:
        if options.mlflow:
            with mlflow_run(
                settings.experiment,
                name,
                uri=settings.tracking_uri,
                tags={"zoo.model": settings.model, "zoo.dataset": settings.dataset},
            ) as handle:
                uri = handle.uri
                summary["mlflow"] = {"tracking_uri": uri, "run_id": handle.run_id}
                handle.log_params(
                    {
                        "zoo.model": settings.model,
                        "zoo.dataset": settings.dataset,
                        "zoo.folds": folds,
                    }
                )
                try:
                    _fold_loop(run_settings, options, name, parent, summary, handle)
                    handle.log_metrics(_cv_metrics(_finish(summary, started), summary), 0)
                finally:
                    write_json(parent.summary, summary)
                    handle.log_artifact(parent.summary)
        else:
            _fold_loop(run_settings, options, name, parent, summary, None)
            _finish(summary, started)
        status = "FINISHED"
    finally:
        summary["status"] = status
        summary["wall_time_s"] = round(time.time() - started, 2)
        write_json(parent.summary, summary)

    for key, s in summary["cv"].items():
        print(f"cross-validation {key}: mean {s['mean']:.4f}  std {s['std']:.4f}  ({folds} folds)")
    print(f"run directory: {parent.path}", flush=True)
    return RunResult.of(
        parent.path,
        json.loads(json.dumps(summary)),
        tracking_uri=uri,
        test_metrics={f"cv_mean_{k}": s["mean"] for k, s in summary["cv"].items()},
    )


def _fold_loop(settings: Settings, options, name, parent, summary, handle) -> None:
    import keras

    folds = int(settings.train.folds)
    for i in range(folds):
        keras.backend.clear_session()
        print(f"=== fold {i + 1}/{folds} ===", flush=True)
        fold_started = time.time()
        fold_options = dataclasses.replace(
            options, fold=i, parent_run_id=handle.run_id if handle else None
        )
        result = run(settings.replace(run_name=f"{name}/fold-{i + 1:02d}"), fold_options)
        entry = {
            "fold": i,
            "run_dir": str(result.run_dir),
            "status": result.status,
            "mlflow_run_id": result.mlflow_run_id,
            "test_metrics": result.test_metrics,
            "epochs_completed": result.summary.get("epochs_completed"),
            "wall_time_s": round(time.time() - fold_started, 2),
        }
        summary["fold_runs"].append(entry)
        if handle is not None:
            per_fold = {f"fold_{k}": v for k, v in result.test_metrics.items()}
            per_fold["fold_wall_time_s"] = entry["wall_time_s"]
            handle.log_metrics(per_fold, i)
        write_json(parent.summary, summary)
        if result.status != "FINISHED":
            raise RuntimeError(f"fold {i + 1} ended {result.status}; stopping.")


def _cv_metrics(stats: dict, summary: dict) -> dict[str, float]:
    metrics = {}
    for key, s in stats.items():
        metrics[f"cv_mean_{key}"] = s["mean"]
        metrics[f"cv_std_{key}"] = s["std"]
    metrics["cv_mean_fold_time_s"] = summary["mean_fold_time_s"]
    return metrics


def _finish(summary: dict, started: float) -> dict:
    runs = summary["fold_runs"]
    stats = fold_statistics([r["test_metrics"] for r in runs])
    summary["cv"] = stats
    summary["mean_fold_time_s"] = round(float(np.mean([r["wall_time_s"] for r in runs])), 2)
    summary["wall_time_s"] = round(time.time() - started, 2)
    return stats
