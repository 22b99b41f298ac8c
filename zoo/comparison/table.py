"""The comparison table: both sides aligned by metric and step, and the :func:`compare` API."""

from __future__ import annotations

import math
from typing import Any

from zoo.comparison.discover import RunInfo

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


def epoch_histories(table) -> dict[str, dict[str, dict[int, float]]]:
    """:func:`histories` of the runs whose steps are epochs (not the per-batch steps of a
    find-lr sweep): what learning curves and their diagnosis are drawn from."""
    kinds = table.attrs.get("kinds", {})
    return {k: h for k, h in histories(table).items() if kinds.get(k, "run") == "run"}


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
