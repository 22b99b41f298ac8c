"""``zoo.compare``: read runs from both sides, align them, diagnose, and draw if asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.comparison.discover import find_runs, load_run
from zoo.comparison.plots import save_curves
from zoo.comparison.report import save_html
from zoo.comparison.sides import read_sides
from zoo.comparison.table import COLUMNS, MLFLOW_ONLY, align, histories


def compare(
    runs: str | Path | Sequence[str | Path] = (),
    experiment: str | None = None,
    *,
    runs_dir: str | Path = "runs",
    tracking_uri: str | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    ignore: frozenset[str] | set[str] = MLFLOW_ONLY,
    png: str | Path | None = None,
    html_path: str | Path | None = None,
):
    """Compare runs in TensorBoard and MLflow; a DataFrame with one row per run, metric, step.

    Columns: ``experiment, run, metric, step, tensorboard, mlflow, difference`` (MLflow minus
    TensorBoard) and ``status`` (``ok``, ``differs``, ``missing in MLflow``, ``missing in
    TensorBoard``). ``table.attrs`` holds ``diagnosis`` (``{experiment/run: [Finding]}``),
    ``params`` (each run's MLflow params) and ``runs`` (the run directories). ``png`` and
    ``html_path`` also save the learning curves and the HTML report.
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
    if png:
        save_curves(table, png)
    if html_path:
        save_html(table, html_path)
    return table
