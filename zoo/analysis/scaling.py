"""How parameters and multiply-adds grow with the input (course lesson 2.9), measured by building.

:func:`measure` builds the ``mlp`` and the ``cnn`` (with its default ``flatten`` bridge, and
with ``global_avg``) at growing square inputs and counts, for each build, the parameters of
its convolutions (with their batch norms) and of its dense layers, and the multiply-adds per
example. :func:`reading` says what the numbers show, in words; :func:`plot` draws them on
log-log axes, where growth as n^k for side n is a straight line of slope k.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SIZES = (28, 56, 112, 224)
MODELS = {
    "mlp": ("mlp", {}),
    "cnn (flatten)": ("cnn", {"bridge": "flatten"}),
    "cnn (global_avg)": ("cnn", {"bridge": "global_avg"}),
}


@dataclass(frozen=True)
class Measure:
    """One model at one input size."""

    model: str
    side: int
    params: int
    conv_params: int
    dense_params: int
    macs: int


def _count(layers, kinds: tuple[str, ...]) -> int:
    return int(
        sum(
            math.prod(w.shape)
            for layer in layers
            if type(layer).__name__.startswith(kinds)
            for w in layer.weights
        )
    )


def measure(sizes: Sequence[int] = SIZES, channels: int = 1, classes: int = 10) -> list[Measure]:
    """Build each model of :data:`MODELS` at ``side x side x channels`` for every side."""
    from zoo.models.registry import build
    from zoo.models.stats import count_macs

    rows = []
    for label, (name, knobs) in MODELS.items():
        for side in sizes:
            model = build(name, input_shape=(side, side, channels), classes=classes, **knobs)
            rows.append(
                Measure(
                    model=label,
                    side=int(side),
                    params=int(model.count_params()),
                    conv_params=_count(model.layers, ("Conv", "BatchNormalization")),
                    dense_params=_count(model.layers, ("Dense",)),
                    macs=count_macs(model),
                )
            )
    return rows


def table(rows: Sequence[Measure]) -> str:
    """The measurements as aligned text."""
    lines = [
        f"{'model':<18}{'input':>10}{'params':>14}{'conv params':>14}{'dense params':>14}"
        f"{'mult-adds':>16}"
    ]
    for r in rows:
        lines.append(
            f"{r.model:<18}{f'{r.side}x{r.side}':>10}{r.params:>14,}{r.conv_params:>14,}"
            f"{r.dense_params:>14,}{r.macs:>16,}"
        )
    return "\n".join(lines)


def exponent(a: float, b: float, side_a: int, side_b: int) -> float:
    """k such that b / a = (side_b / side_a) ** k: the growth as a power of the side."""
    if a <= 0 or b <= 0:
        return 0.0
    return math.log(b / a) / math.log(side_b / side_a)


def _growth(label: str, what: str, a: int, b: int, first: int, last: int) -> str:
    k = exponent(a, b, first, last)
    law = "grow with the pixel count (n^2)" if k > 1.5 else "grow with the side (n)"
    law = law if k > 0.5 else "do not grow"
    return f"{label}: {what} x{b / a:.3g} ({a:,} to {b:,}), ~n^{k:.2f}: they {law}."


def reading(rows: Sequence[Measure]) -> str:
    """What the measurements say, in plain words, from the smallest and largest side."""
    by = {(r.model, r.side): r for r in rows}
    sides = sorted({r.side for r in rows})
    first, last = sides[0], sides[-1]
    lines = [
        f"From {first}x{first} to {last}x{last} px the side n grows x{last / first:.3g} and the "
        f"pixel count x{(last / first) ** 2:.3g}."
    ]
    for label in dict.fromkeys(r.model for r in rows):
        a, b = by[(label, first)], by[(label, last)]
        lines.append(_growth(label, "parameters", a.params, b.params, first, last))
        if a.conv_params:
            lines.append(
                _growth(label, "conv parameters", a.conv_params, b.conv_params, first, last)
            )
        lines.append(_growth(label, "mult-adds", a.macs, b.macs, first, last))
    lines += textwrap.wrap(
        "A dense layer on the pixels has a weight per pixel and unit, so the mlp's first layer "
        "grows with the pixel count (n^2 for side n). A convolution's weights are a small "
        "kernel shared by every position: its parameters do not depend on the input size, its "
        "mult-adds grow with the number of positions (n^2, linear in the pixel count). The "
        "zoo's cnn flattens its last feature map into its first dense layer by default "
        "(bridge='flatten'), so that layer grows with the pixel count as the mlp's does; with "
        "bridge='global_avg' the parameters stay constant.",
        width=100,
    )
    return "\n".join(lines)


def figure(rows: Sequence[Measure]):
    """Parameters and mult-adds against the input side, log-log, one line per model: a
    matplotlib Figure (shown inline in Jupyter)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2)
    for ax, key, title in zip(
        axes, ("params", "macs"), ("parameters", "mult-adds per example"), strict=True
    ):
        for label in dict.fromkeys(r.model for r in rows):
            mine = [r for r in rows if r.model == label]
            ax.plot([r.side for r in mine], [getattr(r, key) for r in mine], "o-", label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        sides = sorted({r.side for r in rows})
        ax.set_xticks(sides, [str(s) for s in sides])
        ax.set_xlabel("input side n (pixels)")
        ax.set_title(title)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    fig.suptitle("growth with the input: slope 2 on these axes is n^2, slope 0 is constant")
    fig.tight_layout()
    return fig


def plot(rows: Sequence[Measure], path: str | Path) -> Path:
    """Save :func:`figure` as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(rows).savefig(path, dpi=100)
    return path
