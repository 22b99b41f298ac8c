"""k-fold cross-validation: one training run per fold, and a parent run with the statistics.

``zoo train mr_kim_cnn --folds 10`` (or ``train.folds = 10``) calls :func:`cross_validate`
with the arguments of ``train``. Fold ``i`` (1-based in names, 0-based for the loader) is a
complete run in ``runs/<experiment>/<name>/fold-<i>/`` (its own TensorBoard folder) and a
nested MLflow run under the parent run ``<name>``. The parent reports, for every test metric,
the mean and the sample standard deviation over the folds (MLflow metrics ``cv_mean_<m>`` and
``cv_std_<m>``, the per-fold values as ``fold_<m>`` with step = fold index) and writes them to
its ``summary.json``.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ConfigError


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

    datasets.list_datasets()
    loader = datasets._LOADERS.get(dataset)
    if loader is None:
        datasets.load(dataset)  # raises the unknown-name error with suggestions
    params = inspect.signature(loader).parameters
    if "fold" not in params or "folds" not in params:
        raise ConfigError(
            f"dataset {dataset!r} does not support cross-validation (no fold argument): "
            "use a text dataset such as mr, or drop --folds."
        )


def cross_validate(**train_args: Any):
    """Run ``train`` once per fold with ``fold`` set; return the parent's RunResult."""
    from callbacks.tracking import absolute_uri, log_metrics, log_params, mlflow_run
    from callbacks.tracking import tracking_uri as current_uri
    from zoo.runner import RunResult, _default_run_name, _say, _write_json, run

    folds = int(train_args["folds"])
    if folds < 2:
        raise ConfigError(f"train.folds must be at least 2, not {folds}.")
    if train_args.get("resume"):
        raise ConfigError("--resume does not combine with --folds: start a new run.")
    _check_loader(train_args["dataset"])
    experiment = train_args["experiment"]
    name = train_args.get("run_name") or _default_run_name(f"{train_args['model']}-cv{folds}")
    parent_dir = Path(train_args["runs_dir"]) / experiment / name
    if parent_dir.exists() and any(parent_dir.iterdir()):
        raise ConfigError(
            f"Run directory {parent_dir} already exists: choose another train.run_name."
        )
    parent_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    summary: dict[str, Any] = {
        "run_name": name,
        "experiment": experiment,
        "model": train_args["model"],
        "dataset": train_args["dataset"],
        "folds": folds,
        "status": "RUNNING",
        "fold_runs": [],
    }
    uri = None

    def fold_loop(parent_id: str | None, handle) -> None:
        import keras

        for i in range(folds):
            keras.backend.clear_session()
            _say(f"=== fold {i + 1}/{folds} ===")
            fold_started = time.time()
            result = run(
                **{
                    **train_args,
                    "run_name": f"{name}/fold-{i + 1:02d}",
                    "fold": i,
                    "parent_run_id": parent_id,
                }
            )
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
                log_metrics(handle.client, handle.run_id, per_fold, i)
            _write_json(parent_dir / "summary.json", summary)
            if result.status != "FINISHED":
                raise RuntimeError(f"fold {i + 1} ended {result.status}; stopping.")

    status = "FAILED"
    params = {
        "zoo.model": train_args["model"],
        "zoo.dataset": train_args["dataset"],
        "zoo.folds": folds,
    }
    try:
        if train_args.get("mlflow", True):
            with mlflow_run(
                experiment,
                name,
                uri=train_args.get("tracking_uri"),
                tags={"zoo.model": train_args["model"], "zoo.dataset": train_args["dataset"]},
            ) as handle:
                uri = absolute_uri(current_uri())
                summary["mlflow"] = {"tracking_uri": uri, "run_id": handle.run_id}
                log_params(handle.client, handle.run_id, params)
                try:
                    fold_loop(handle.run_id, handle)
                    stats = _finish(summary, started)
                    metrics = {}
                    for key, s in stats.items():
                        metrics[f"cv_mean_{key}"] = s["mean"]
                        metrics[f"cv_std_{key}"] = s["std"]
                    metrics["cv_mean_fold_time_s"] = summary["mean_fold_time_s"]
                    log_metrics(handle.client, handle.run_id, metrics, 0)
                finally:
                    _write_json(parent_dir / "summary.json", summary)
                    handle.client.log_artifact(handle.run_id, str(parent_dir / "summary.json"))
        else:
            fold_loop(None, None)
            _finish(summary, started)
        status = "FINISHED"
    finally:
        summary["status"] = status
        summary["wall_time_s"] = round(time.time() - started, 2)
        _write_json(parent_dir / "summary.json", summary)

    for key, s in summary["cv"].items():
        _say(f"cross-validation {key}: mean {s['mean']:.4f}  std {s['std']:.4f}  ({folds} folds)")
    _say(f"run directory: {parent_dir}")
    return RunResult(
        run_dir=parent_dir,
        run_name=name,
        experiment=experiment,
        status=status,
        mlflow_run_id=summary.get("mlflow", {}).get("run_id"),
        tracking_uri=uri,
        test_metrics={f"cv_mean_{k}": s["mean"] for k, s in summary["cv"].items()},
        summary=json.loads(json.dumps(summary)),
    )


def _finish(summary: dict, started: float) -> dict:
    runs = summary["fold_runs"]
    stats = fold_statistics([r["test_metrics"] for r in runs])
    summary["cv"] = stats
    summary["mean_fold_time_s"] = round(float(np.mean([r["wall_time_s"] for r in runs])), 2)
    summary["wall_time_s"] = round(time.time() - started, 2)
    return stats
