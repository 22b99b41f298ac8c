"""The ``zoo compare`` command: the table, the diagnosis, the figure and the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compare runs as TensorBoard and MLflow see them, diagnose their learning curves. "
        "Folders that cannot be compared (a run without MLflow or TensorBoard, a search's or "
        "a cross-validation's own run) are listed with the reason and left out. "
        "Exit code 0: both agree; 1: a value differs or is missing on one side; 2: user error "
        "or nothing to compare."
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_DIR|EXPERIMENT",
        help="run directories (runs/<experiment>/<run>), tuning or cross-validation folders, "
        "experiment folders or experiment names",
    )
    parser.add_argument("--experiment", help="every run of this experiment under --runs-dir")
    parser.add_argument("--runs-dir", default="runs", help="where experiments live (runs)")
    parser.add_argument(
        "--tracking-uri", help="the MLflow store to read (default: each run's summary.json)"
    )
    parser.add_argument(
        "--html",
        type=Path,
        help="write a self-contained HTML report here (with each run's evaluation/ folder)",
    )
    parser.add_argument("--png", type=Path, help="save the runs' learning curves here")
    parser.add_argument(
        "--rtol", type=float, default=1e-6, help="relative tolerance of 'the same value' (1e-6)"
    )


def _disagreement(table, bad) -> str:
    counts = bad["status"].value_counts()
    first = bad.iloc[0]
    return (
        f"zoo compare: TensorBoard and MLflow disagree on {len(bad)} of {len(table)} values ("
        + ", ".join(f"{n} {status}" for status, n in counts.items())
        + f"); first: {first['experiment']}/{first['run']} {first['metric']} step {first['step']}"
        f" ({first['status']})."
    )


def compare_main(args: argparse.Namespace) -> int:
    from zoo.comparison.compare_runs import compare
    from zoo.comparison.table import format_table, problems

    table = compare(
        args.runs,
        args.experiment,
        runs_dir=args.runs_dir,
        tracking_uri=args.tracking_uri,
        rtol=args.rtol,
        png=args.png,
        html_path=args.html,
    )
    print(format_table(table))
    print()
    for label, status in table.attrs["statuses"].items():
        if status and status != "FINISHED":
            print(f"{label} did not finish ({status}): compared as far as it got.")
    left_out = table.attrs["left_out"]
    if left_out:
        print(f"left out ({len(left_out)}):")
        for line in left_out:
            print(f"  {line}")
    for label, findings in table.attrs["diagnosis"].items():
        print(f"diagnosis of {label}:")
        for f in findings:
            print(f"  {f}")
    for name, path in (("learning curves", args.png), ("report", args.html)):
        if path:
            print(f"{name}: {path}")
    bad = problems(table)
    if bad.empty:
        print(
            f"TensorBoard and MLflow agree: {len(table)} values in {len(table.attrs['runs'])} run(s)."
        )
        return 0
    print(_disagreement(table, bad), file=sys.stderr)
    return 1
