"""What a tuning run leaves behind: leaderboard (printed + CSV), ``best.gin``, and plots."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuners.space import Param, Space, bindings_for
from tuners.trial import TrialRecord


def ranked(records: Sequence[TrialRecord], direction: str) -> list[TrialRecord]:
    """Trials with an objective, best first (ties: fewer epochs, then trial id)."""
    scored = [r for r in records if r.objective is not None and not math.isnan(r.objective)]
    sign = -1 if direction == "max" else 1
    return sorted(scored, key=lambda r: (sign * r.objective, r.total_epochs, r.trial))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def leaderboard(
    records: Sequence[TrialRecord], space: Space, objective: str, direction: str, path: Path
) -> str:
    """Write ``leaderboard.csv`` (best first) and return it as an aligned text table."""
    rows = []
    for rank, r in enumerate(ranked(records, direction), 1):
        row = {"rank": rank, "trial": r.trial}
        row.update({name: r.values.get(name) for name in space.names})
        row.update(
            {
                objective: r.objective,
                "epochs": r.epochs,
                "total_epochs": r.total_epochs,
                "time_s": r.time_s,
                "mlflow_run_id": r.mlflow_run_id,
            }
        )
        rows.append(row)
    columns = ["rank", "trial", *space.names, objective, "epochs", "total_epochs", "time_s"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*columns, "mlflow_run_id"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    table = [columns] + [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table
    )


def write_best_recipe(
    path: Path,
    *,
    best: TrialRecord,
    recipe_path: Path | None,
    recipe_text: str,
    bindings: Sequence[str],
    objective: str,
    direction: str,
    description: str,
) -> None:
    """``best.gin``: the tuning recipe, the ``--bind`` overrides, then the winning values."""
    lines = [
        f"# The best configuration found by {description}:",
        f"# trial {best.trial}, {objective} = {best.objective:.6g} ({direction}), "
        f"{best.total_epochs} epochs.",
        f"# Retrain it: zoo train {path}",
        "",
        f"# ---- the tuning recipe{': ' + str(recipe_path) if recipe_path else ''} ----",
        recipe_text.rstrip(),
        "",
    ]
    if bindings:
        lines += ["# ---- --bind overrides ----", *bindings, ""]
    lines += [
        "# ---- the winning values ----",
        *bindings_for(best.values),
        f"train.epochs = {best.total_epochs}",
        "",
    ]
    path.write_text("\n".join(lines))


def _position(param: Param, value: Any) -> float:
    """Where ``value`` sits on ``param``'s axis, from 0 to 1."""
    if value is None:
        return float("nan")
    if param.kind == "choice":
        values = list(param.values)
        return values.index(value) / max(len(values) - 1, 1) if value in values else float("nan")
    low, high, v = float(param.low), float(param.high), float(value)
    if param.log:
        low, high, v = math.log(low), math.log(high), math.log(v)
    return (v - low) / (high - low)


def _axis_labels(param: Param) -> tuple[str, str]:
    if param.kind == "choice":
        return str(param.values[0]), str(param.values[-1])
    return f"{param.low:g}", f"{param.high:g}"


def parallel_coordinates(
    records: Sequence[TrialRecord], space: Space, objective: str, path: Path
) -> Path:
    """The parallel-coordinates plot as a PNG (:func:`parallel_coordinates_figure`)."""
    parallel_coordinates_figure(records, space, objective).savefig(path, dpi=100)
    return path


def parallel_coordinates_figure(records: Sequence[TrialRecord], space: Space, objective: str):
    """One line per trial across every hyperparameter's axis, coloured by the objective."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    scored = [r for r in records if r.objective is not None]
    objectives = [r.objective for r in scored]
    lo, hi = (min(objectives), max(objectives)) if objectives else (0.0, 1.0)
    span = (hi - lo) or 1.0
    params = list(space)
    fig = Figure(figsize=(2.2 * (len(params) + 1) + 1, 4.5))
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    xs = list(range(len(params) + 1))
    for r in scored:
        ys = [_position(p, r.values.get(p.name)) for p in params]
        ys.append((r.objective - lo) / span)
        ax.plot(xs, ys, color=cmap((r.objective - lo) / span), alpha=0.8, linewidth=1.5)
    for x, p in enumerate(params):
        ax.axvline(x, color="grey", linewidth=0.8)
        bottom, top = _axis_labels(p)
        ax.text(x, -0.06, bottom, ha="center", va="top", fontsize=7)
        ax.text(x, 1.04, top, ha="center", va="bottom", fontsize=7)
    ax.axvline(len(params), color="grey", linewidth=0.8)
    ax.text(len(params), -0.06, f"{lo:.4g}", ha="center", va="top", fontsize=7)
    ax.text(len(params), 1.04, f"{hi:.4g}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(xs, [p.name for p in params] + [objective], rotation=15, fontsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.15, 1.15)
    ax.set_title(f"{len(scored)} trials, coloured by {objective}")
    fig.tight_layout()
    return fig


def _bins(param: Param, values: Sequence[Any], max_bins: int = 6) -> tuple[list[str], Any]:
    """Labels and a value -> bin index function for one heatmap axis."""
    if param.kind == "choice" or (param.cardinality() or max_bins + 1) <= max_bins:
        grid = list(param.values) if param.kind == "choice" else param.grid()
        return [str(v) for v in grid], lambda v: grid.index(v) if v in grid else None
    low, high = float(param.low), float(param.high)
    edges = (
        [
            math.exp(math.log(low) + i * (math.log(high) - math.log(low)) / max_bins)
            for i in range(max_bins + 1)
        ]
        if param.log
        else [low + i * (high - low) / max_bins for i in range(max_bins + 1)]
    )
    labels = [f"{edges[i]:.3g}-{edges[i + 1]:.3g}" for i in range(max_bins)]

    def index(v):
        if v is None:
            return None
        for i in range(max_bins):
            if float(v) <= edges[i + 1] or i == max_bins - 1:
                return i
        return None

    return labels, index


def heatmap(
    records: Sequence[TrialRecord],
    space: Space,
    objective: str,
    direction: str,
    pair: Sequence[str],
    path: Path,
) -> Path:
    """The heatmap as a PNG (:func:`heatmap_figure`)."""
    heatmap_figure(records, space, objective, direction, pair).savefig(path, dpi=100)
    return path


def heatmap_figure(
    records: Sequence[TrialRecord],
    space: Space,
    objective: str,
    direction: str,
    pair: Sequence[str],
):
    """The best objective in each cell of a grid over two hyperparameters, as a Figure."""
    import numpy as np
    from matplotlib.figure import Figure

    px, py = space[pair[0]], space[pair[1]]
    scored = [r for r in records if r.objective is not None]
    xlabels, xbin = _bins(px, [r.values.get(px.name) for r in scored])
    ylabels, ybin = _bins(py, [r.values.get(py.name) for r in scored])
    grid = np.full((len(ylabels), len(xlabels)), np.nan)
    better = max if direction == "max" else min
    for r in scored:
        i, j = ybin(r.values.get(py.name)), xbin(r.values.get(px.name))
        if i is None or j is None:
            continue
        grid[i, j] = r.objective if np.isnan(grid[i, j]) else better(grid[i, j], r.objective)
    fig = Figure(figsize=(1.2 * len(xlabels) + 2.5, 0.8 * len(ylabels) + 2))
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis" if direction == "max" else "viridis_r", aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=30, fontsize=7)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=7)
    ax.set_xlabel(px.name)
    ax.set_ylabel(py.name)
    ax.set_title(f"best {objective} per cell (empty: no trial)")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig
