"""A model layer by layer: output shape, parameters, multiply-adds and receptive field.

:func:`layer_table` prints one row per layer, side by side for several input sizes (the
per-layer picture torchinfo gives, plus the receptive field). The receptive field of a unit
is the input region it depends on; with ``r`` its size and ``j`` its jump (the distance, in
input pixels, between neighbouring units of the layer), a layer of kernel ``k`` (``d(k-1)+1``
with dilation ``d``) and stride ``s`` gives (Araujo, Norris & Sim 2019, "Computing Receptive
Fields of Convolutional Neural Networks", Distill, eq. 1-2):

    r_out = r_in + (k - 1) * j_in        j_out = j_in * s

starting from ``r = j = 1`` at the input. Where paths merge (residual additions,
concatenations, squeeze-and-excitation's product) the largest field counts; global pooling
and flattening see the whole map (``k`` = its size), after which there is no jump ("-").
Layers that do not mix positions (batch norm, activations, dropout, dense layers on vectors)
keep the field they get. Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from zoo.errors import ConfigError

CONVOLUTIONS = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D")
CONVOLUTIONS += ("SeparableConv1D", "SeparableConv2D")
POOLINGS = ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D")
POOLINGS += ("AveragePooling1D", "AveragePooling2D", "AveragePooling3D")
WHOLE_MAP = ("Flatten", "GlobalAveragePooling1D", "GlobalAveragePooling2D")
WHOLE_MAP += ("GlobalMaxPooling1D", "GlobalMaxPooling2D")


@dataclass(frozen=True)
class Field:
    """A receptive field: its size per spatial axis, and its jump (None once spatial-free)."""

    size: tuple[int, ...]
    jump: tuple[int, ...] | None

    def __str__(self) -> str:
        return _axes(self.size)

    @property
    def jump_text(self) -> str:
        return "-" if self.jump is None else _axes(self.jump)


@dataclass(frozen=True)
class LayerRow:
    """One layer of one build: what :func:`layer_table` prints."""

    name: str
    kind: str
    output_shape: tuple
    params: int
    macs: int
    field: Field | None


def _axes(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _pair(value: Any, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, list | tuple) else (int(value),) * n


def _window(layer, spatial: tuple) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(kernel, stride) of a layer that mixes positions; None for one that does not."""
    kind, n = type(layer).__name__, len(spatial)
    if kind in CONVOLUTIONS:
        kernel = _pair(layer.kernel_size, n)
        dilation = _pair(getattr(layer, "dilation_rate", 1), n)
        effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        return effective, _pair(layer.strides, n)
    if kind in POOLINGS:
        return _pair(layer.pool_size, n), _pair(layer.strides or layer.pool_size, n)
    if kind in WHOLE_MAP:
        return tuple(int(s) for s in spatial), (1,) * n
    return None


def _merge(fields: list[Field]) -> Field:
    sizes = [f.size for f in fields]
    size = tuple(max(axis) for axis in zip(*sizes, strict=True))
    jumps = [f.jump for f in fields if f.jump is not None]
    jump = tuple(max(axis) for axis in zip(*jumps, strict=True)) if jumps else None
    return Field(size, jump)


def _next_field(layer, inputs: list[Field]) -> Field | None:
    if not inputs:
        return None
    field = _merge(inputs)
    shape = layer.input.shape if not isinstance(layer.input, list | tuple) else None
    spatial = tuple(shape[1:-1]) if shape is not None and len(shape) > 2 else ()
    window = _window(layer, spatial) if field.jump is not None and spatial else None
    if window is None:
        return field
    kernel, stride = window
    size = tuple(r + (k - 1) * j for r, k, j in zip(field.size, kernel, field.jump, strict=False))
    whole = type(layer).__name__ in WHOLE_MAP
    return Field(
        size, None if whole else tuple(j * s for j, s in zip(field.jump, stride, strict=False))
    )


def _params(layer) -> int:
    return int(sum(math.prod(w.shape) for w in layer.weights))


def receptive_fields(model) -> dict[str, Field | None]:
    """The receptive field of every layer's output, by layer name (None where unknown, such
    as inside a nested model)."""
    from keras import tree

    fields: dict[int, Field | None] = {}
    out: dict[str, Field | None] = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            spatial = len(layer.output.shape) - 2
            field = Field((1,) * max(spatial, 1), (1,) * max(spatial, 1))
        elif hasattr(layer, "layers"):  # a nested model: not followed inside
            field = None
        else:
            try:
                inputs = [fields.get(id(t)) for t in tree.flatten(layer.input)]
            except (AttributeError, ValueError):  # a layer shared between several calls
                inputs = [None]
            known = [f for f in inputs if f is not None]
            field = _next_field(layer, known) if len(known) == len(inputs) else None
        for tensor in tree.flatten(layer.output):
            fields[id(tensor)] = field
        out[layer.name] = field
    return out


def layer_rows(model) -> list[LayerRow]:
    """One :class:`LayerRow` per layer of a built model, in the model's order."""
    from zoo.models.stats import count_macs, layer_macs

    fields = receptive_fields(model)
    rows = []
    for layer in model.layers:
        nested = hasattr(layer, "layers") and bool(layer.layers)
        shape = layer.output.shape
        rows.append(
            LayerRow(
                name=layer.name,
                kind=type(layer).__name__,
                output_shape=tuple(shape[1:]) if hasattr(shape, "__len__") else (),
                params=_params(layer),
                macs=count_macs(layer) if nested else layer_macs(layer),
                field=fields[layer.name],
            )
        )
    return rows


def _rebuilt(model, shape: Sequence[int]):
    """``model``'s architecture at another input shape (new weights), from its config."""
    import keras

    config = model.get_config()
    first = next((c for c in config.get("layers", []) if c["class_name"] == "InputLayer"), None)
    if first is None or len(model.inputs) != 1:
        raise ConfigError(
            f"{model.name}: only a single-input functional model can be rebuilt at other input "
            "shapes; build it at each shape instead."
        )
    first["config"]["batch_shape"] = [None, *shape]
    for layer in config["layers"]:
        layer.pop("build_config", None)  # the shapes it was built for: rebuilt at the new ones
    try:
        return keras.Model.from_config(config)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{model.name} cannot take input shape {tuple(shape)}: {exc}") from exc


def models_at(model, input_shapes: Iterable[Sequence[int]] | None = None) -> list:
    """``model`` (a keras Model or a registered name) built at each of ``input_shapes``."""
    from zoo.models.registry import build, get_spec

    shapes = [tuple(int(d) for d in s) for s in input_shapes or []]
    if isinstance(model, str):
        spec = get_spec(model)
        return [build(model, input_shape=s) for s in shapes or [spec.default_input]]
    if not shapes:
        return [model]
    current = tuple(model.input_shape[1:])
    return [model if s == current else _rebuilt(model, s) for s in shapes]


def _shape(shape: tuple) -> str:
    return "x".join("?" if d is None else str(d) for d in shape) or "scalar"


def _cells(row: LayerRow | None) -> list[str]:
    if row is None:
        return ["-"] * 5
    field = row.field
    return [
        _shape(row.output_shape),
        f"{row.params:,}",
        f"{row.macs:,}",
        str(field) if field else "?",
        field.jump_text if field else "?",
    ]


def format_rows(builds: list[list[LayerRow]], titles: list[str]) -> str:
    """Side-by-side text of the rows of several builds (matched by layer name)."""
    names = [(r.name, r.kind) for r in builds[0]]
    for rows in builds[1:]:
        names += [(r.name, r.kind) for r in rows if (r.name, r.kind) not in names]
    by_name = [{r.name: r for r in rows} for rows in builds]
    head = ["layer (type)", *["output", "params", "mult-adds", "rf", "jump"] * len(builds)]
    body = [[f"{n} ({k})", *(c for rows in by_name for c in _cells(rows.get(n)))] for n, k in names]
    totals = ["total"]
    for rows in builds:
        totals += ["", f"{sum(r.params for r in rows):,}", f"{sum(r.macs for r in rows):,}", "", ""]
    widths = [max(len(r[i]) for r in [head, *body, totals]) for i in range(len(head))]
    groups = [sum(widths[1 + 5 * g : 6 + 5 * g]) + 8 for g in range(len(builds))]
    title = "".join(f" | {t:<{w}}" for t, w in zip(titles, groups, strict=True))
    lines = [(" " * widths[0] + title).rstrip(), _line(head, widths)]
    lines += [_line(r, widths) for r in body]
    return "\n".join([*lines, "-" * len(lines[1]), _line(totals, widths)])


def _line(cells: list[str], widths: list[int]) -> str:
    parts = [f"{cells[0]:<{widths[0]}}"]
    for i, (cell, width) in enumerate(zip(cells[1:], widths[1:], strict=True)):
        sep = " | " if i % 5 == 0 else "  "
        parts.append(sep + (f"{cell:<{width}}" if i % 5 == 0 else f"{cell:>{width}}"))
    return "".join(parts).rstrip()


def layer_table(model, input_shapes: Iterable[Sequence[int]] | None = None) -> str:
    """One row per layer: output shape, parameters, multiply-adds, receptive field and jump,
    side by side for each input shape.

    ``model`` is a built keras Model (rebuilt from its config at the other ``input_shapes``)
    or a registered model name (built at each shape, default its default input).
    """
    builds = models_at(model, input_shapes)
    titles = [f"{builds[0].name} at {_shape(tuple(m.input_shape[1:]))}" for m in builds]
    return format_rows([layer_rows(m) for m in builds], titles)


def load_run_model(run_dir, checkpoint: str = "last"):
    """The model saved in ``run_dir/checkpoints/<checkpoint>.keras`` (``last`` or ``best``)."""
    from zoo.tracking.rundir import CHECKPOINTS, RunDir

    if checkpoint not in CHECKPOINTS:
        raise ConfigError(f"checkpoint must be 'last' or 'best', not {checkpoint!r}.")
    path = RunDir(run_dir).checkpoint(checkpoint)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: give a run directory with {checkpoint}.keras.")
    from zoo.models.saving import load_model

    return load_model(path, compile=False)
