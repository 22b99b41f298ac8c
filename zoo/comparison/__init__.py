"""Compare runs as TensorBoard and MLflow see them: same metric, same epoch, same value?

``zoo compare RUN_DIR...`` (or an experiment's name, or ``--experiment NAME``) reads each run
twice, from its TensorBoard event files (``runs/<experiment>/<run>/tensorboard``) and from
the MLflow store recorded in its ``summary.json``, aligns the two by metric and step, prints
the values side by side with their difference, and diagnoses each run's learning curves in
words (:mod:`zoo.diagnose`). ``--png`` saves the runs' learning curves in one figure and
``--html`` a self-contained report (the table, the figure, the hyperparameters side by side,
each run's evaluation on the test set and the differences between the operative configs).

Exit codes follow ``diff``: 0 when both sides hold the same values, 1 when a value differs or
a metric or step is missing on one side (the first problems are named on stderr), 2 on a
user error (no such run, no MLflow run, a store that does not answer).

Modules, one job each: :mod:`.discover` (run directories, ``summary.json``), :mod:`.sides`
(reading TensorBoard and MLflow), :mod:`.table` (aligning them; :func:`compare`),
:mod:`.plots` (learning curves), :mod:`.report` (HTML), :mod:`.cli` (the command).
From Python, ``zoo.compare(...)`` is :func:`compare`: a pandas DataFrame with one row per run,
metric and step.
"""

from __future__ import annotations

from pathlib import Path

from zoo.comparison.discover import RunInfo, find_runs, load_run
from zoo.comparison.plots import curves_figure, save_curves
from zoo.comparison.report import config_diffs, report_html, save_html
from zoo.comparison.sides import check_store, read_sides
from zoo.comparison.table import (
    COLUMNS,
    DIFFERS,
    MISSING_MLFLOW,
    MISSING_TENSORBOARD,
    MLFLOW_ONLY,
    OK,
    align,
    compare_sides,
    format_table,
    histories,
    problems,
)


def compare(
    runs=(),
    experiment: str | None = None,
    *,
    png: str | Path | None = None,
    html_path: str | Path | None = None,
    **options,
):
    """:func:`~zoo.comparison.table.compare_sides` (the table; ``options`` are its keyword
    arguments); ``png`` and ``html_path`` also save the learning curves and the HTML report."""
    table = compare_sides(runs, experiment, **options)
    if png:
        save_curves(table, png)
    if html_path:
        save_html(table, html_path)
    return table


__all__ = [
    "COLUMNS",
    "DIFFERS",
    "MISSING_MLFLOW",
    "MISSING_TENSORBOARD",
    "MLFLOW_ONLY",
    "OK",
    "RunInfo",
    "align",
    "check_store",
    "compare",
    "config_diffs",
    "curves_figure",
    "find_runs",
    "format_table",
    "histories",
    "load_run",
    "problems",
    "read_sides",
    "report_html",
    "save_curves",
    "save_html",
]
