"""The comparison table: both sides aligned by metric and step, and the :func:`compare` API."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.comparison.discover import RunInfo, find_runs, load_run
from zoo.comparison.sides import read_sides

# Logged by zoo to MLflow only: TensorBoard keeps the wall time of every event instead.
MLFLOW_ONLY = frozenset({"wall_time_s"})
OK, DIFFERS = "ok", "differs"
MISSING_MLFLOW, MISSING_TENSORBOARD = "missing in MLflow", "missing in TensorBoard"
COLUMNS = ["experiment", "run", "metric", "step", "tensorboard", "mlflow", "difference", "status"]


def _status(step: int, tb: dict, ml: dict, rtol: float, atol: float) -> str:
    if step not in ml:
        return MISSING_MLFLOW
    if step not in tb:
        return MISSING_TENSORBOARD
    a, b = tb[step], ml[step]
    if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=atol):
        return OK
    return DIFFERS


def align(
    run: RunInfo,
    tensorboard: dict[str, dict[int, float]],
    mlflow: dict[str, dict[int, float]],
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    ignore: frozenset[str] | set[str] = MLFLOW_ONLY,
) -> list[dict[str, Any]]:
    """One row per metric and step present on either side, with both values and a status."""
    rows = []
    for metric in sorted((set(tensorboard) | set(mlflow)) - set(ignore)):
        tb, ml = tensorboard.get(metric, {}), mlflow.get(metric, {})
        for step in sorted(set(tb) | set(ml)):
            a, b = tb.get(step, math.nan), ml.get(step, math.nan)
            rows.append(
                {
                    "experiment": run.experiment,
                    "run": run.run_name,
                    "metric": metric,
                    "step": int(step),
                    "tensorboard": a,
                    "mlflow": b,
                    "difference": b - a,
                    "status": _status(step, tb, ml, rtol, atol),
                }
            )
    return rows


def problems(table) -> Any:
    """The rows of a :func:`compare` table where the two sides do not agree."""
    return table[table["status"] != OK]


def histories(table) -> dict[str, dict[str, dict[int, float]]]:
    """``{experiment/run: {metric: {step: value}}}`` from a table (TensorBoard's value, else
    MLflow's)."""
    out: dict[str, dict[str, dict[int, float]]] = {}
    for row in table.itertuples(index=False):
        value = row.tensorboard if not math.isnan(row.tensorboard) else row.mlflow
        out.setdefault(f"{row.experiment}/{row.run}", {}).setdefault(row.metric, {})[
            int(row.step)
        ] = float(value)
    return out


def fmt_value(value: Any) -> str:
    """A cell as text: floats with 6 significant digits, NaN as ``-``."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def format_table(table) -> str:
    """The table as text, one block per run."""
    lines = []
    for (experiment, run), sub in table.groupby(["experiment", "run"], sort=False):
        lines.append(f"{experiment}/{run}")
        lines.append(
            f"  {'metric':<24}{'step':>6}{'TensorBoard':>16}{'MLflow':>16}{'difference':>13}  "
        )
        for row in sub.itertuples(index=False):
            flag = "" if row.status == OK else f"  <- {row.status}"
            lines.append(
                f"  {row.metric:<24}{row.step:>6}{fmt_value(row.tensorboard):>16}"
                f"{fmt_value(row.mlflow):>16}{fmt_value(row.difference):>13}{flag}"
            )
    return "\n".join(lines)


def compare_sides(
    runs: str | Path | Sequence[str | Path] = (),
    experiment: str | None = None,
    *,
    runs_dir: str | Path = "runs",
    tracking_uri: str | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    ignore: frozenset[str] | set[str] = MLFLOW_ONLY,
):
    """Compare runs in TensorBoard and MLflow; a DataFrame with one row per run, metric, step.

    Columns: ``experiment, run, metric, step, tensorboard, mlflow, difference`` (MLflow minus
    TensorBoard) and ``status`` (``ok``, ``differs``, ``missing in MLflow``, ``missing in
    TensorBoard``). ``table.attrs`` holds ``diagnosis`` (``{experiment/run: [Finding]}``),
    ``params`` (each run's MLflow params) and ``runs`` (the run directories).
    """
    import pandas as pd

    from zoo.diagnose import diagnose

    targets = [runs] if isinstance(runs, str | Path) else list(runs)
    infos = [load_run(d, tracking_uri) for d in find_runs(targets, experiment, runs_dir)]
    rows: list[dict[str, Any]] = []
    params: dict[str, dict[str, str]] = {}
    for info in infos:
        tb, ml, params[info.label] = read_sides(info)
        rows += align(info, tb, ml, rtol=rtol, atol=atol, ignore=ignore)
    table = pd.DataFrame(rows, columns=COLUMNS)
    diagnosis = {
        label: diagnose(history) for label, history in histories(table).items() if "loss" in history
    }
    table.attrs.update(
        diagnosis=diagnosis,
        params=params,
        runs={info.label: str(info.run_dir) for info in infos},
    )
    return table
