"""Read a run back from its TensorBoard event files and from the MLflow store.

TF2 writes scalars as tensor summaries, so they are read with ``Tensors(tag)`` (``Scalars``
comes back empty) and with no size limit (the default keeps 10 values per tag).
"""

from __future__ import annotations

from pathlib import Path

Series = dict[str, dict[int, float]]


def read_tensorboard(log_dir: str | Path, text: bool = False) -> Series:
    """``{tag: {step: value}}`` of every scalar in ``log_dir`` (all its event files)."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    acc = EventAccumulator(str(log_dir), size_guidance={TENSORS: 0})
    acc.Reload()
    series: Series = {}
    for tag in acc.Tags().get("tensors", []):
        for event in acc.Tensors(tag):
            value = make_ndarray(event.tensor_proto)
            if value.dtype.kind in "fiu" and value.size == 1:
                series.setdefault(tag, {})[int(event.step)] = float(value.reshape(()))
            elif text and value.dtype.kind in "SO":
                series.setdefault(tag, {})[int(event.step)] = value.reshape(-1)[0]
    return series


def tensorboard_tags(log_dir: str | Path) -> list[str]:
    """All tensor tags (scalars, text, HParams plugin data) in ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return sorted(acc.Tags().get("tensors", []))


def read_mlflow(run_id: str, tracking_uri: str | None = None) -> Series:
    """``{key: {step: value}}`` of every metric of an MLflow run (full history)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    series: Series = {}
    for key in client.get_run(run_id).data.metrics:
        for m in client.get_metric_history(run_id, key):
            series.setdefault(key, {})[int(m.step)] = float(m.value)
    return series
