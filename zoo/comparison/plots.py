"""The runs' learning curves as one matplotlib figure: a panel per metric.

A transfer run's per-epoch ``phase`` metric gets no panel of its own: a dotted vertical line
in the run's colour marks the first epoch of its phase 2 (fine-tuning) in every panel.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

from zoo.comparison.table import MLFLOW_ONLY, epoch_histories
from zoo.errors import ZooError

COLUMNS_MAX = 3  # panels per row
PANEL_SIZE = (5.0, 3.6)  # inches; the HTML report scales the figure to the page width
DPI = 110
PHASE = "phase"  # the per-epoch phase marker of a transfer run (1, then 2)


def panels(history: dict[str, dict[int, float]]) -> list[str]:
    """The metrics that get a panel: training metrics (validation is drawn in the same one)."""
    return sorted(
        k
        for k in history
        if not k.startswith(("val_", "test_", "batch_")) and k not in MLFLOW_ONLY | {PHASE}
    )


def phase_starts(history: dict[str, dict[int, float]]) -> list[int]:
    """The steps at which the ``phase`` metric rises (the first epoch of each later phase)."""
    phases = history.get(PHASE) or {}
    steps = sorted(phases)
    return [b for a, b in zip(steps, steps[1:], strict=False) if phases[b] > phases[a]]


def _draw(ax, metric: str, runs: dict, colors: list[str]) -> None:
    from matplotlib.ticker import MaxNLocator

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
        for step in phase_starts(history):
            ax.axvline(step, color=color, linestyle=":", linewidth=1.2, label=f"{label}: phase 2")
    ax.set_title(metric)
    ax.set_xlabel("epoch (step)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if metric == "learning_rate":
        ax.set_yscale("log")


def curves_figure(table):
    """One matplotlib figure: a panel per metric, train solid and validation dashed, a colour
    per run. A Figure of its own, not pyplot's: Jupyter shows it inline, and no backend is
    switched."""
    import matplotlib
    from matplotlib.figure import Figure

    runs = epoch_histories(table)
    names = sorted({p for h in runs.values() for p in panels(h)}, key=lambda k: (k != "loss", k))
    if not names:
        raise ZooError("The runs have no per-epoch metrics to plot.")
    cols = min(COLUMNS_MAX, len(names))
    rows = math.ceil(len(names) / cols)
    width, height = PANEL_SIZE
    fig = Figure(figsize=(width * cols, height * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, metric in zip(axes.flat, names, strict=False):
        _draw(ax, metric, runs, colors)
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("learning curves: train solid, validation dashed")
    fig.tight_layout()
    return fig


def save_curves(table, path: str | Path) -> Path:
    """Save the learning curves of the table's runs as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    curves_figure(table).savefig(path, dpi=DPI)
    return path


def curves_base64(table) -> str:
    """The learning curves as a base64 PNG, for an HTML ``data:`` URL."""
    buffer = io.BytesIO()
    curves_figure(table).savefig(buffer, format="png", dpi=DPI)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
