"""Compare runs as TensorBoard and MLflow see them: same metric, same epoch, same value?

``zoo compare RUN_DIR...`` (or an experiment's name, or ``--experiment NAME``) reads each run
twice, from its TensorBoard event files (``runs/<experiment>/<run>/tensorboard``) and from
the MLflow store recorded in its ``summary.json``, aligns the two by metric and step, prints
the values side by side with their difference, and diagnoses each run's learning curves in
words (:mod:`zoo.diagnose`). ``--png`` saves the runs' learning curves in one figure and
``--html`` a self-contained report (the table, the figure, the hyperparameters side by side
and the differences between the runs' operative configs).

Exit codes follow ``diff``: 0 when both sides hold the same values, 1 when a value differs or
a metric or step is missing on one side (the first problems are named on stderr), 2 on a
user error (no such run, no MLflow run, a store that does not answer).

From Python, ``zoo.compare(...)`` returns the same table as a pandas DataFrame (one row per
run, metric and step); the module itself is callable, so ``import zoo.compare`` does not
hide the function.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import html
import io
import json
import math
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

# Logged by zoo to MLflow only: TensorBoard keeps the wall time of every event instead.
MLFLOW_ONLY = frozenset({"wall_time_s"})
OK, DIFFERS = "ok", "differs"
MISSING_MLFLOW, MISSING_TENSORBOARD = "missing in MLflow", "missing in TensorBoard"
COLUMNS = ["experiment", "run", "metric", "step", "tensorboard", "mlflow", "difference", "status"]


@dataclass
class RunInfo:
    """What a run directory says about itself, and where its MLflow twin lives."""

    run_dir: Path
    experiment: str
    run_name: str
    run_id: str | None
    tracking_uri: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.experiment}/{self.run_name}"


# -- finding runs ------------------------------------------------------------------------------
def _is_run(path: Path) -> bool:
    return (path / "summary.json").is_file()


def _runs_in(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and _is_run(d))


def find_runs(
    targets: Sequence[str | Path] = (), experiment: str | None = None, runs_dir: str | Path = "runs"
) -> list[Path]:
    """Run directories named by ``targets`` (run folders, experiment folders or experiment
    names under ``runs_dir``) and by ``experiment``, in order, without duplicates."""
    runs_root = Path(runs_dir)
    names = [str(t) for t in targets] + ([experiment] if experiment else [])
    if not names:
        raise ZooError("Name the runs to compare: zoo compare RUN_DIR... or --experiment NAME.")
    found: list[Path] = []
    for name in names:
        path = Path(name)
        if _is_run(path):
            runs = [path]
        elif path.is_dir() and _runs_in(path):
            runs = _runs_in(path)
        elif (runs_root / name).is_dir() and _runs_in(runs_root / name):
            runs = _runs_in(runs_root / name)
        else:
            raise ZooError(
                f"{name!r} is neither a run directory (with summary.json) nor an experiment "
                f"with runs in {path} or {runs_root / name}: check the name or pass --runs-dir."
            )
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


def load_run(run_dir: str | Path, tracking_uri: str | None = None) -> RunInfo:
    """Read ``summary.json`` of ``run_dir``; ``tracking_uri`` overrides the recorded store."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ZooError(f"Cannot read {run_dir / 'summary.json'}: {exc}.") from exc
    mlflow_info = summary.get("mlflow") or {}
    return RunInfo(
        run_dir=run_dir,
        experiment=str(summary.get("experiment", run_dir.parent.name)),
        run_name=str(summary.get("run_name", run_dir.name)),
        run_id=mlflow_info.get("run_id"),
        tracking_uri=tracking_uri or mlflow_info.get("tracking_uri"),
        summary=summary,
    )


def _check_store(uri: str) -> None:
    """Fail in one line, and fast, when the MLflow store cannot be reached."""
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_file():
            raise ZooError(f"The MLflow store {uri} does not exist: pass --tracking-uri.")
    elif uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ZooError(
                f"The MLflow server {uri} does not answer ({exc}): start it (zoo ui) or pass "
                "--tracking-uri."
            ) from exc


def read_sides(run: RunInfo) -> tuple[dict, dict, dict[str, str]]:
    """The run's series from TensorBoard and from MLflow, and its MLflow params."""
    from zoo.logs import read_mlflow, read_tensorboard

    tb_dir = run.run_dir / "tensorboard"
    if not tb_dir.is_dir():
        raise ZooError(
            f"{run.run_dir} has no tensorboard/ folder (trained with train.tensorboard = False?)."
        )
    if not run.run_id or not run.tracking_uri:
        raise ZooError(
            f"{run.run_dir} has no MLflow run (trained with train.mlflow = False?): nothing to "
            "compare with."
        )
    _check_store(run.tracking_uri)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        params = dict(MlflowClient(tracking_uri=run.tracking_uri).get_run(run.run_id).data.params)
        ml = read_mlflow(run.run_id, run.tracking_uri)
    except MlflowException as exc:
        raise ZooError(
            f"MLflow run {run.run_id} of {run.run_dir} is not in {run.tracking_uri}: pass the "
            "right --tracking-uri."
        ) from exc
    return read_tensorboard(tb_dir), ml, params


# -- aligning ----------------------------------------------------------------------------------
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
            if step not in ml:
                status = MISSING_MLFLOW
            elif step not in tb:
                status = MISSING_TENSORBOARD
            elif (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=rtol, abs_tol=atol
            ):
                status = OK
            else:
                status = DIFFERS
            rows.append(
                {
                    "experiment": run.experiment,
                    "run": run.run_name,
                    "metric": metric,
                    "step": int(step),
                    "tensorboard": a,
                    "mlflow": b,
                    "difference": b - a,
                    "status": status,
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


# -- the API -----------------------------------------------------------------------------------
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
    diagnosis = {}
    for label, history in histories(table).items():
        if "loss" in history:
            diagnosis[label] = diagnose(history)
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


# -- figures and report ------------------------------------------------------------------------
def _panels(history: dict[str, dict[int, float]]) -> list[str]:
    return sorted(
        k for k in history if not k.startswith(("val_", "test_", "batch_")) and k not in MLFLOW_ONLY
    )


def curves_figure(table):
    """One matplotlib figure: a panel per metric, train solid and validation dashed, a colour
    per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = histories(table)
    panels = sorted({p for h in runs.values() for p in _panels(h)}, key=lambda k: (k != "loss", k))
    if not panels:
        raise ZooError("The runs have no per-epoch metrics to plot.")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, panels, strict=False):
        for i, (label, history) in enumerate(runs.items()):
            color = colors[i % len(colors)]
            for key, style, part in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                if key in history:
                    steps = sorted(history[key])
                    ax.plot(
                        steps,
                        [history[key][s] for s in steps],
                        style,
                        color=color,
                        marker="o",
                        markersize=3,
                        label=f"{label} ({part})" if metric != "learning_rate" else label,
                    )
        ax.set_title(metric)
        ax.set_xlabel("epoch (step)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if metric == "learning_rate":
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("learning curves: train solid, validation dashed")
    fig.tight_layout()
    return fig


def save_curves(table, path: str | Path) -> Path:
    """Save the learning curves of the table's runs as a PNG."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = curves_figure(table)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _png_base64(table) -> str:
    import matplotlib.pyplot as plt

    fig = curves_figure(table)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]], classes=()) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        out.append(
            f"<tr{cls}>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        )
    return "\n".join(out) + "</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.6g}"
    return str(value)


def config_diffs(run_dirs: dict[str, str]) -> dict[str, str]:
    """Unified diffs of each run's operative_config.gin against the first run's."""
    texts = {}
    for label, run_dir in run_dirs.items():
        path = Path(run_dir) / "operative_config.gin"
        texts[label] = path.read_text().splitlines() if path.is_file() else []
    labels = list(texts)
    return {
        label: "\n".join(
            difflib.unified_diff(texts[labels[0]], texts[label], labels[0], label, n=0, lineterm="")
        )
        for label in labels[1:]
    }


def report_html(table) -> str:
    """A self-contained HTML report of a :func:`compare` table."""
    bad = problems(table)
    runs = table.attrs.get("runs", {})
    params = table.attrs.get("params", {})
    diagnosis = table.attrs.get("diagnosis", {})
    labels = list(runs)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>zoo compare</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:2px 8px;text-align:right;font-size:13px}th{background:#eee}"
        ".diff td{background:#fff3c4}.bad td{background:#fdd}pre{background:#f6f6f6;"
        "padding:1em;overflow:auto}.ok{color:#070}.fail{color:#b00}",
        "</style></head><body>",
        f"<h1>zoo compare: {len(labels)} run(s)</h1>",
    ]
    if bad.empty:
        parts.append(
            f"<p class='ok'>TensorBoard and MLflow agree: {len(table)} values, every one the "
            "same on both sides.</p>"
        )
    else:
        parts.append(
            f"<p class='fail'>TensorBoard and MLflow disagree on {len(bad)} of {len(table)} "
            "values (listed below).</p>"
        )
    parts.append("<h2>Diagnosis</h2><ul>")
    for label, findings in diagnosis.items():
        for f in findings:
            parts.append(f"<li><b>{html.escape(label)}</b>: {html.escape(str(f))}</li>")
    parts.append("</ul>")
    if not table.empty:
        parts.append(
            f"<h2>Learning curves</h2><img alt='learning curves' "
            f"src='data:image/png;base64,{_png_base64(table)}'>"
        )
    keys = sorted({k for p in params.values() for k in p})
    if keys:
        differing = [k for k in keys if len({params[r].get(k) for r in params}) > 1]
        parts.append("<h2>Hyperparameters side by side</h2>")
        parts.append(
            f"<p>{len(differing)} of {len(keys)} parameters differ between the runs "
            "(highlighted).</p>"
        )
        ordered = differing + [k for k in keys if k not in differing]
        parts.append(
            _html_table(
                ["parameter", *params],
                [[k, *(params[r].get(k, "-") for r in params)] for k in ordered],
                ["diff" if k in differing else "" for k in ordered],
            )
        )
    diffs = config_diffs(runs)
    if diffs:
        parts.append(f"<h2>Operative configs: differences from {html.escape(labels[0])}</h2>")
        for label, text in diffs.items():
            parts.append(f"<h3>{html.escape(label)}</h3>")
            parts.append(f"<pre>{html.escape(text) if text else '(identical)'}</pre>")
    parts.append("<h2>TensorBoard against MLflow</h2>")
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
            _html_table(
                cols,
                sub[cols].itertuples(index=False),
                ["bad" if s != OK else "" for s in sub["status"]],
            )
        )
        parts.append("</details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def save_html(table, path: str | Path) -> Path:
    """Write :func:`report_html` of ``table`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(table))
    return path


# -- the command -------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Compare runs as TensorBoard and MLflow see them, diagnose their learning curves. "
        "Exit code 0: both agree; 1: a value differs or is missing on one side; 2: user error."
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_DIR|EXPERIMENT",
        help="run directories (runs/<experiment>/<run>), experiment folders or experiment names",
    )
    parser.add_argument("--experiment", help="every run of this experiment under --runs-dir")
    parser.add_argument("--runs-dir", default="runs", help="where experiments live (runs)")
    parser.add_argument(
        "--tracking-uri", help="the MLflow store to read (default: each run's summary.json)"
    )
    parser.add_argument("--html", type=Path, help="write a self-contained HTML report here")
    parser.add_argument("--png", type=Path, help="save the runs' learning curves here")
    parser.add_argument(
        "--rtol", type=float, default=1e-6, help="relative tolerance of 'the same value' (1e-6)"
    )


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
                f"  {row.metric:<24}{row.step:>6}{_fmt(row.tensorboard):>16}"
                f"{_fmt(row.mlflow):>16}{_fmt(row.difference):>13}{flag}"
            )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
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
    for label, findings in table.attrs["diagnosis"].items():
        print(f"diagnosis of {label}:")
        for f in findings:
            print(f"  {f}")
    for name, path in (("learning curves", args.png), ("report", args.html)):
        if path:
            print(f"{name}: {path}")
    bad = problems(table)
    runs = len(table.attrs["runs"])
    if bad.empty:
        print(f"TensorBoard and MLflow agree: {len(table)} values in {runs} run(s).")
        return 0
    counts = bad["status"].value_counts()
    first = bad.iloc[0]
    print(
        f"zoo compare: TensorBoard and MLflow disagree on {len(bad)} of {len(table)} values ("
        + ", ".join(f"{n} {status}" for status, n in counts.items())
        + f"); first: {first['experiment']}/{first['run']} {first['metric']} step {first['step']}"
        f" ({first['status']}).",
        file=sys.stderr,
    )
    return 1


class _CallableModule(types.ModuleType):
    """``zoo.compare(...)`` works whether ``zoo.compare`` is this module or the function."""

    def __call__(self, *args: Any, **kwargs: Any):
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
