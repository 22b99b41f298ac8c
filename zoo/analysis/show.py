"""Looking inside a trained CNN: its first-layer filters and the feature maps of test images.

:func:`show_run` writes PNGs into ``<run>/show/``, the same images as TensorBoard image
summaries into ``<run>/tensorboard/show/`` (a run named ``show`` in TensorBoard's Images tab)
and as artifacts under ``show/`` of the run's MLflow run. The pieces work on any Keras model:
:func:`plot_filters` (the kernels of the first 2D convolution, one tile per filter) and
:func:`plot_feature_maps` (a row per image: the image, then the first channels of the
layer's output). Importing this module does not import TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError, unknown
from zoo.tracking.rundir import RunDir


def _unit(a: np.ndarray) -> np.ndarray:
    low, high = float(a.min()), float(a.max())
    return (a - low) / (high - low) if high > low else np.zeros_like(a)


def first_conv(model):
    """The first 2D convolution of ``model`` (a ConfigError when it has none)."""
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            return layer
    raise ConfigError(f"{model.name} has no 2D convolution: there are no filters to show.")


def plot_filters(model, path: Path, limit: int = 64) -> Path:
    """The first convolution's kernels as a PNG (:func:`filters_figure`)."""
    filters_figure(model, limit).savefig(path, dpi=100)
    return Path(path)


def filters_figure(model, limit: int = 64):
    """The first convolution's kernels as a Figure, one tile per filter: RGB for 3 input
    channels, else the mean over the input channels in grey. Each tile is scaled to its own
    range."""
    from matplotlib.figure import Figure

    layer = first_conv(model)
    kernel = np.asarray(layer.kernel)  # (kh, kw, in, out)
    tiles = kernel if kernel.shape[2] == 3 else kernel.mean(axis=2, keepdims=True)
    count = min(limit, kernel.shape[-1])
    cols = min(8, count)
    rows = -(-count // cols)
    fig = Figure(figsize=(1.2 * cols, 1.2 * rows + 0.5))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, ax in enumerate(axes.flat[:count]):
        tile = _unit(tiles[..., i])
        ax.imshow(tile if tile.shape[-1] == 3 else tile[..., 0], cmap="gray")
        ax.set_title(str(i), fontsize=7)
    h, w, c_in, c_out = kernel.shape
    fig.suptitle(f"{layer.name}: {c_out} filters of {h}x{w}x{c_in}", fontsize=9)
    fig.tight_layout()
    return fig


def feature_model(model, names: Sequence[str]):
    """A model from ``model``'s input to the outputs of the named layers (4-D maps only)."""
    import keras

    known = [layer.name for layer in model.layers]
    outputs = []
    for name in names:
        if name not in known:
            raise unknown("layer", name, known)
        output = model.get_layer(name).output
        if len(output.shape) != 4:
            raise ConfigError(
                f"Layer {name!r} outputs shape {tuple(output.shape[1:])}, not a feature map "
                "(height, width, channels): pick a convolution, activation or pooling layer."
            )
        outputs.append(output)
    return keras.Model(model.input, outputs)


def _as_image(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    x = _unit(np.asarray(x, dtype="float64"))
    return (x, None) if x.shape[-1] == 3 else (x[..., 0], "gray")


def plot_feature_maps(images: np.ndarray, maps: np.ndarray, name: str, path: Path, channels=8):
    """Feature maps as a PNG (:func:`feature_maps_figure`)."""
    feature_maps_figure(images, maps, name, channels).savefig(path, dpi=100)
    return Path(path)


def feature_maps_figure(images: np.ndarray, maps: np.ndarray, name: str, channels: int = 8):
    """A Figure with a row per image: the image, then its first ``channels`` maps (each scaled
    to its range)."""
    from matplotlib.figure import Figure

    k = min(channels, maps.shape[-1])
    fig = Figure(figsize=(1.3 * (k + 1), 1.3 * len(images) + 0.5))
    axes = fig.subplots(len(images), k + 1, squeeze=False)
    for row, (image, fmap) in enumerate(zip(images, maps, strict=True)):
        picture, cmap = _as_image(image)
        axes[row, 0].imshow(picture, cmap=cmap)
        for c in range(k):
            axes[row, c + 1].imshow(_unit(fmap[..., c]), cmap="viridis")
            if row == 0:
                axes[row, c + 1].set_title(f"ch {c}", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].set_title("input", fontsize=7)
    h, w, c = maps.shape[1:]
    fig.suptitle(f"{name}: {h}x{w}x{c} feature maps, first {k} channels", fontsize=9)
    fig.tight_layout()
    return fig


def visualize(model, images, out_dir: Path, *, filters=True, layers: Sequence[str] = ()):
    """Filters and feature maps of ``model`` as PNGs in ``out_dir``; ``{name: path}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    if filters:
        written["filters"] = plot_filters(model, out_dir / "filters.png")
    if layers:
        outputs = feature_model(model, layers)(np.asarray(images), training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        for name, maps in zip(layers, outputs, strict=True):
            path = out_dir / f"feature_maps_{name}.png"
            # float32 whatever the run's precision: matplotlib cannot scale bfloat16 arrays
            written[f"feature_maps/{name}"] = plot_feature_maps(
                images, np.asarray(maps, dtype="float32"), name, path
            )
    return written


def sample_images(run_dir: Path, count: int) -> np.ndarray:
    """The first ``count`` test images of a run's dataset, loaded as the run loaded it (its
    operative config)."""
    from zoo import datasets
    from zoo.config import parse

    files = RunDir(run_dir)
    summary = json.loads(files.summary.read_text())
    parse(files.operative_config)
    # the seed of the run's data splits (summary.json records it), else the loader's default
    seed = {"seed": summary["seed"]} if "seed" in summary else {}
    data = datasets.load(summary["dataset"], **seed)
    split = data.test if data.test is not None else data.validation
    taken: list[np.ndarray] = []
    for x, _ in split:
        taken.append(np.asarray(x))
        if sum(len(t) for t in taken) >= count:
            break
    return np.concatenate(taken)[:count]


def log_to_run(run_dir: Path, images: dict[str, Path]) -> list[str]:
    """Image summaries in ``<run>/tensorboard/show`` and MLflow artifacts under ``show/``;
    where each went, in words."""
    import tensorflow as tf

    from zoo.analysis.evaluation import log_images

    files = RunDir(run_dir)
    writer = tf.summary.create_file_writer(str(files.show_log))
    log_images(writer, images, step=0)
    writer.close()
    said = [f"TensorBoard: {files.show_log} (Images tab)"]
    mlflow = json.loads(files.summary.read_text()).get("mlflow") or {}
    if mlflow.get("run_id") and mlflow.get("tracking_uri"):
        from mlflow.tracking import MlflowClient

        from zoo.tracking import check_store

        check_store(
            mlflow["tracking_uri"], option=f"the tracking_uri in {files.summary}", read=True
        )
        client = MlflowClient(tracking_uri=mlflow["tracking_uri"])
        for path in images.values():
            client.log_artifact(mlflow["run_id"], str(path), artifact_path=files.show.name)
        said.append(f"MLflow: artifacts {files.show.name}/ of run {mlflow['run_id']}")
    return said


def show_run(
    run_dir: str | Path,
    *,
    filters: bool = True,
    layers: Sequence[str] = (),
    count: int = 4,
    checkpoint: str = "last",
    log: bool = True,
) -> dict[str, Path]:
    """Filters and feature maps of a run's model on ``count`` of its test images, as PNGs in
    ``<run>/show/`` and (``log``) in TensorBoard and MLflow; ``{name: path}``."""
    from zoo.analysis.summary import load_run_model

    run_dir = Path(run_dir)
    if not RunDir(run_dir).summary.is_file():
        raise ConfigError(f"{run_dir} is not a run directory (it has no summary.json).")
    if not filters and not layers:
        raise ConfigError("Say what to show: --filters and/or --feature-maps LAYER...")
    model = load_run_model(run_dir, checkpoint)
    images = sample_images(run_dir, count) if layers else None
    written = visualize(model, images, RunDir(run_dir).show, filters=filters, layers=layers)
    if log:
        for line in log_to_run(run_dir, written):
            print(line)
    return written
