"""``zoo.compare``: read runs from both sides, align them, diagnose, and draw if asked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.comparison.discover import LeftOut, RunInfo, load_run, survey
from zoo.comparison.plots import save_curves
from zoo.comparison.report import save_html
from zoo.comparison.sides import read_sides
from zoo.comparison.table import COLUMNS, MLFLOW_ONLY, align, epoch_histories
from zoo.errors import ZooError, first_line
from zoo.tracking import check_store


def _read(info: RunInfo, stores: dict[str, str | None]):
    """Both sides of one run; ZooError with the reason when the run cannot be compared."""
    if info.tracking_uri and info.run_id:
        if info.tracking_uri not in stores:
            try:
                check_store(info.tracking_uri, option="--tracking-uri", read=True)
                stores[info.tracking_uri] = None
            except ZooError as exc:
                stores[info.tracking_uri] = first_line(exc)
        if stores[info.tracking_uri]:
            raise ZooError(stores[info.tracking_uri])
    try:
        return read_sides(info)
    except ZooError:
        raise
    except Exception as exc:  # an unreadable event file or store: this run only
        raise ZooError(f"unreadable ({type(exc).__name__}: {first_line(exc)})") from exc


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
    ``params`` (each run's MLflow params), ``runs`` (the run directories), ``kinds`` (``run``
    or ``find-lr`` per run), ``statuses`` (each run's own status) and ``left_out`` (one line
    per folder that could not be compared, and why). ``png`` and ``html_path`` also save the
    learning curves and the HTML report. Raises ZooError only when nothing can be compared.
    """
    import pandas as pd

    from zoo.analysis.diagnose import diagnose

    targets = [runs] if isinstance(runs, str | Path) else list(runs)
    run_dirs, left_out = survey(targets, experiment, runs_dir)
    rows: list[dict[str, Any]] = []
    params: dict[str, dict[str, str]] = {}
    infos: list[RunInfo] = []
    stores: dict[str, str | None] = {}
    for run_dir in run_dirs:
        try:
            info = load_run(run_dir, tracking_uri)
            tb, ml, run_params = _read(info, stores)
        except ZooError as exc:
            left_out.append(LeftOut(run_dir, first_line(exc).removeprefix(f"{run_dir} ")))
            continue
        infos.append(info)
        params[info.label] = run_params
        rows += align(info, tb, ml, rtol=rtol, atol=atol, ignore=ignore)
    if not infos:
        reasons = "; ".join(str(s).rstrip(".") for s in left_out) or "no runs found"
        raise ZooError(f"Nothing to compare: {reasons}.")
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.attrs.update(
        params=params,
        runs={info.label: str(info.run_dir) for info in infos},
        kinds={info.label: info.kind for info in infos},
        statuses={info.label: info.status for info in infos},
        left_out=[str(s) for s in left_out],
    )
    table.attrs["diagnosis"] = {
        label: diagnose(history)
        for label, history in epoch_histories(table).items()
        if "loss" in history
    }
    if png:
        save_curves(table, png)
    if html_path:
        save_html(table, html_path)
    return table
