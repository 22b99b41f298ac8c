"""The self-contained HTML report of a comparison: verdicts, curves, parameters, configs,
each run's evaluation (confusion matrix, per-class table) and the value-by-value table."""

from __future__ import annotations

import base64
import csv
import difflib
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.comparison.plots import curves_base64
from zoo.comparison.table import OK, epoch_histories, fmt_value, problems
from zoo.tracking.rundir import RunDir

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1200px}"
    "img{max-width:100%;height:auto}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
    "padding:2px 8px;text-align:right;font-size:13px}th{background:#eee}"
    ".diff td{background:#fff3c4}.bad td{background:#fdd}pre{background:#f6f6f6;"
    "padding:1em;overflow:auto}.ok{color:#070}.fail{color:#b00}"
)


def html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], classes=()) -> str:
    """An HTML table; ``classes[i]`` is the CSS class of row ``i`` (or empty)."""
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        out.append(
            f"<tr{cls}>" + "".join(f"<td>{html.escape(fmt_value(v))}</td>" for v in row) + "</tr>"
        )
    return "\n".join(out) + "</table>"


def config_diffs(run_dirs: dict[str, str]) -> dict[str, str]:
    """Unified diffs of each run's operative_config.gin against the first run's."""
    texts = {}
    for label, run_dir in run_dirs.items():
        path = RunDir(run_dir).operative_config
        texts[label] = path.read_text().splitlines() if path.is_file() else []
    labels = list(texts)
    return {
        label: "\n".join(
            difflib.unified_diff(texts[labels[0]], texts[label], labels[0], label, n=0, lineterm="")
        )
        for label in labels[1:]
    }


def _agreement(table) -> str:
    bad = problems(table)
    if bad.empty:
        return (
            f"<p class='ok'>TensorBoard and MLflow agree: {len(table)} values, every one the "
            "same on both sides.</p>"
        )
    return (
        f"<p class='fail'>TensorBoard and MLflow disagree on {len(bad)} of {len(table)} "
        "values (listed below).</p>"
    )


def _diagnosis(diagnosis: dict) -> list[str]:
    parts = ["<h2>Diagnosis</h2><ul>"]
    for label, findings in diagnosis.items():
        for f in findings:
            parts.append(f"<li><b>{html.escape(label)}</b>: {html.escape(str(f))}</li>")
    return [*parts, "</ul>"]


def _params(params: dict[str, dict[str, str]]) -> list[str]:
    keys = sorted({k for p in params.values() for k in p})
    if not keys:
        return []
    differing = [k for k in keys if len({params[r].get(k) for r in params}) > 1]
    ordered = differing + [k for k in keys if k not in differing]
    return [
        "<h2>Hyperparameters side by side</h2>",
        f"<p>{len(differing)} of {len(keys)} parameters differ between the runs (highlighted).</p>",
        html_table(
            ["parameter", *params],
            [[k, *(params[r].get(k, "-") for r in params)] for k in ordered],
            ["diff" if k in differing else "" for k in ordered],
        ),
    ]


def _configs(runs: dict[str, str]) -> list[str]:
    diffs = config_diffs(runs)
    if not diffs:
        return []
    parts = [f"<h2>Operative configs: differences from {html.escape(next(iter(runs)))}</h2>"]
    for label, text in diffs.items():
        parts.append(f"<h3>{html.escape(label)}</h3>")
        parts.append(f"<pre>{html.escape(text) if text else '(identical)'}</pre>")
    return parts


def _png(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def evaluation_section(label: str, run_dir: str | Path) -> list[str]:
    """A run's per-class table and confusion matrix, when its ``evaluation/`` folder has them."""
    from zoo.analysis.evaluation import (
        CONFUSION_PNG,
        PER_CLASS_CSV,
        WRONG_MD,
        WRONG_PNG,
    )

    folder = RunDir(run_dir).evaluation
    table, matrix = folder / PER_CLASS_CSV, folder / CONFUSION_PNG
    if not table.is_file() and not matrix.is_file():
        return []
    parts = [f"<h3>{html.escape(label)}</h3>"]
    if table.is_file():
        with open(table, newline="") as f:
            rows = list(csv.reader(f))
        parts.append(html_table(rows[0], rows[1:]))
    for path, alt in ((matrix, "confusion matrix"), (folder / WRONG_PNG, "most confident wrong")):
        if path.is_file():
            parts.append(_png(path, alt))
    if (folder / WRONG_MD).is_file():
        parts.append(f"<pre>{html.escape((folder / WRONG_MD).read_text())}</pre>")
    return parts


def _evaluations(runs: dict[str, str]) -> list[str]:
    parts = [p for label, run_dir in runs.items() for p in evaluation_section(label, run_dir)]
    return ["<h2>Evaluation on the test set</h2>", *parts] if parts else []


def _left_out(lines: list[str]) -> list[str]:
    if not lines:
        return []
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return [f"<h2>Left out ({len(lines)})</h2><ul>{items}</ul>"]


def _statuses(statuses: dict[str, str | None]) -> list[str]:
    """A line for each compared run that did not finish (failed, killed, still running)."""
    unfinished = {k: v for k, v in statuses.items() if v and v != "FINISHED"}
    if not unfinished:
        return []
    items = "".join(f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in unfinished.items())
    return [f"<p>Runs that did not finish (compared as far as they got):</p><ul>{items}</ul>"]


def _values(table, labels: list[str]) -> list[str]:
    parts = ["<h2>TensorBoard against MLflow</h2>"]
    cols = ["run", "metric", "step", "tensorboard", "mlflow", "difference", "status"]
    for label in labels:
        experiment, run = label.split("/", 1)
        sub = table[(table["experiment"] == experiment) & (table["run"] == run)]
        n_bad = int((sub["status"] != OK).sum())
        parts.append(
            f"<details{' open' if n_bad else ''}><summary>{html.escape(label)}: {len(sub)} "
            f"values, {n_bad} disagree</summary>"
        )
        parts.append(
            html_table(
                cols,
                sub[cols].itertuples(index=False),
                ["bad" if s != OK else "" for s in sub["status"]],
            )
        )
        parts.append("</details>")
    return parts


def _phase_note(table) -> list[str]:
    """Where each transfer run's phase 2 (fine-tuning) starts, under the curves."""
    from zoo.comparison.plots import phase_starts

    starts = {run: phase_starts(h) for run, h in epoch_histories(table).items()}
    lines = [
        f"{html.escape(str(run))}: phase 2 (fine-tuning) from step {steps[0]}"
        for run, steps in starts.items()
        if steps
    ]
    if not lines:
        return []
    return ["<p>Dotted vertical lines: " + "; ".join(lines) + ".</p>"]


def report_html(table) -> str:
    """A self-contained HTML report of a :func:`zoo.compare` table."""
    runs = table.attrs.get("runs", {})
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>zoo compare</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>zoo compare: {len(runs)} run(s)</h1>",
        _agreement(table),
        *_statuses(table.attrs.get("statuses", {})),
        *_left_out(table.attrs.get("left_out", [])),
        *_diagnosis(table.attrs.get("diagnosis", {})),
    ]
    if epoch_histories(table):
        parts.append(
            "<h2>Learning curves</h2><img alt='learning curves' "
            f"src='data:image/png;base64,{curves_base64(table)}'>"
        )
        parts += _phase_note(table)
    parts += _params(table.attrs.get("params", {}))
    parts += _evaluations(runs)
    parts += _configs(runs)
    parts += _values(table, list(runs))
    parts.append("</body></html>")
    return "\n".join(parts)


def save_html(table, path: str | Path) -> Path:
    """Write :func:`report_html` of ``table`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(table))
    return path
