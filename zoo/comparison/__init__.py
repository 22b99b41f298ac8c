"""Compare runs as TensorBoard and MLflow see them: same metric, same epoch, same value?

``zoo compare RUN_DIR...`` (or an experiment's name, or ``--experiment NAME``) reads each run
twice, from its TensorBoard event files (``runs/<experiment>/<run>/tensorboard``) and from
the MLflow store recorded in its ``summary.json``, aligns the two by metric and step, prints
the values side by side with their difference, and diagnoses each run's learning curves in
words (:mod:`zoo.analysis.diagnose`). ``--png`` saves the runs' learning curves in one figure and
``--html`` a self-contained report (the table, the figure, the hyperparameters side by side,
each run's evaluation on the test set and the differences between the operative configs).

Any experiment folder can be compared: plain runs, failed or killed runs (as far as they
got), ``zoo find-lr`` sweeps (one step per batch: in the table, not in the learning curves),
the trials of a tuning folder and the folds of a cross-validation run. What cannot be compared
(a run trained with ``mlflow=False`` or ``tensorboard=False``, a search's or a
cross-validation's own MLflow run, a store that does not answer) is left out with one line
saying why, and the report is written for the rest.

Exit codes follow ``diff``: 0 when both sides hold the same values, 1 when a value differs or
a metric or step is missing on one side (the first problems are named on stderr), 2 on a
user error (no such run, nothing that can be compared).

Modules, one job each: :mod:`.discover` (what a folder holds, ``summary.json``), :mod:`.sides`
(reading TensorBoard and MLflow), :mod:`.table` (aligning them; :func:`compare`),
:mod:`.plots` (learning curves), :mod:`.report` (HTML), :mod:`.cli` (the command).
From Python, ``zoo.compare(...)`` is :func:`compare`: a pandas DataFrame with one row per run,
metric and step.
"""

from __future__ import annotations

from zoo.comparison.compare_runs import compare
from zoo.comparison.discover import LeftOut, RunInfo, find_runs, load_run, survey
from zoo.comparison.plots import curves_figure, save_curves
from zoo.comparison.report import config_diffs, report_html, save_html
from zoo.comparison.sides import read_sides
from zoo.comparison.table import (
    COLUMNS,
    DIFFERS,
    MISSING_MLFLOW,
    MISSING_TENSORBOARD,
    MLFLOW_ONLY,
    OK,
    align,
    epoch_histories,
    format_table,
    histories,
    problems,
)

__all__ = [
    "COLUMNS",
    "DIFFERS",
    "LeftOut",
    "MISSING_MLFLOW",
    "MISSING_TENSORBOARD",
    "MLFLOW_ONLY",
    "OK",
    "RunInfo",
    "align",
    "compare",
    "config_diffs",
    "curves_figure",
    "epoch_histories",
    "find_runs",
    "format_table",
    "histories",
    "load_run",
    "problems",
    "read_sides",
    "report_html",
    "save_curves",
    "save_html",
    "survey",
]
