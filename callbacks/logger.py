"""The side-by-side logger: every epoch's metrics to TensorBoard and MLflow, same names and step.

TensorBoard gets one scalar per Keras log key (``loss``, ``val_loss``, ``accuracy``,
``learning_rate``...) at step = epoch index (Keras' convention, first epoch = 0), the
hyperparameters for the HParams plugin, and the operative gin config as text. MLflow gets
the same metrics under the same keys and steps, the params, and the operative config and
model summary as artifacts. Read back, the two agree value for value.

A resumed run first reconciles both trackers with ``history.csv`` (:meth:`reconcile`): a hard
kill can leave the last checkpointed epoch missing from either, never an epoch past the
checkpoint; what a tracker already holds is not written again.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np


def current_learning_rate(optimizer) -> float:
    """The learning rate the optimizer applies now (schedules evaluated at its step)."""
    lr = optimizer.learning_rate
    return float(keras.ops.convert_to_numpy(lr))


class SideBySideLogger(keras.callbacks.Callback):
    """Log each epoch to TensorBoard (``log_dir``) and MLflow (``run_id``) identically."""

    def __init__(
        self,
        log_dir: str | Path | None,
        mlflow_client=None,
        run_id: str | None = None,
        *,
        hparams: dict[str, Any] | None = None,
        operative_config: str | None = None,
        model_summary: str | None = None,
        log_learning_rate: bool = True,
        log_every_n_steps: int | None = None,
    ):
        super().__init__()
        self.log_dir = Path(log_dir) if log_dir else None
        self.client = mlflow_client
        self.run_id = run_id
        self.hparams = dict(hparams or {})
        self.operative_config = operative_config
        self.model_summary = model_summary
        self.log_learning_rate = log_learning_rate
        self.log_every_n_steps = log_every_n_steps
        self._writer = None
        self._header_written = False
        self._layout_written = False
        self.last_logged: dict[str, float] = {}
        # what could not reach MLflow (a server gone mid-run): retried by retry_unsent()
        self.unsent: list[tuple[dict[str, float], int]] = []
        self.mlflow_error: str | None = None
        # (key, step) pairs each tracker held when a resumed run started: not written again
        self._tensorboard_has: set[tuple[str, int]] = set()
        self._mlflow_has: set[tuple[str, int]] = set()

    # -- writers ---------------------------------------------------------------------------
    @property
    def writer(self):
        if self._writer is None and self.log_dir is not None:
            import tensorflow as tf

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = tf.summary.create_file_writer(str(self.log_dir))
        return self._writer

    def write_header(self) -> None:
        """HParams, operative config and model summary: once per run."""
        if self._header_written:
            return
        self._header_written = True
        if self.writer is not None:
            import tensorflow as tf
            from tensorboard.plugins.hparams import api as hp

            with self.writer.as_default():
                if self.hparams:
                    hp.hparams(self.hparams)
                if self.operative_config:
                    tf.summary.text(
                        "operative_config", _markdown_code(self.operative_config), step=0
                    )
                if self.model_summary:
                    tf.summary.text("model_summary", _markdown_code(self.model_summary), step=0)
            self.writer.flush()
        if self.client is not None and self.run_id is not None and self.mlflow_reachable:
            with tempfile.TemporaryDirectory() as tmp, contextlib.suppress(Exception):
                for name, text in (
                    ("operative_config.gin", self.operative_config),
                    ("model_summary.txt", self.model_summary),
                ):
                    if text:
                        path = Path(tmp) / name
                        path.write_text(text)
                        self.client.log_artifact(self.run_id, str(path))

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Write ``metrics`` at ``step`` to both TensorBoard and MLflow."""
        # as float32, which is what TensorBoard stores: both sides then hold the same value
        clean = {k: float(np.float32(v)) for k, v in metrics.items() if _is_number(v)}
        to_board = {k: v for k, v in clean.items() if (k, step) not in self._tensorboard_has}
        if self.writer is not None and to_board:
            import tensorflow as tf

            with self.writer.as_default():
                for key, value in to_board.items():
                    tf.summary.scalar(key, value, step=step)
            self.writer.flush()
        to_mlflow = {k: v for k, v in clean.items() if (k, step) not in self._mlflow_has}
        if self.client is not None and self.run_id is not None and to_mlflow:
            self._send(to_mlflow, step)
        self.last_logged = clean

    def reconcile(
        self, history: list[dict[str, float]], last_learning_rate: float | None = None
    ) -> dict[str, list[int]]:
        """Before a resumed run trains: write each epoch of ``history`` (row i = step i) that
        a tracker lacks, with ``last_learning_rate`` for the last one (the learning rate is
        not a column of ``history.csv``), and remember what the trackers hold so that no
        (key, step) is written twice. Returns the steps filled in, per tracker."""
        if self.log_dir is not None and self.log_dir.is_dir():
            self._tensorboard_has = _tensorboard_steps(self.log_dir)
        if self.client is not None and self.run_id is not None:
            try:
                self._mlflow_has = _mlflow_steps(self.client, self.run_id)
            except Exception as exc:  # a dead server: what it misses is retried at the end
                self.mlflow_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        filled: dict[str, list[int]] = {"tensorboard": [], "mlflow": []}
        for step, row in enumerate(history):
            values = dict(row)
            if (
                self.log_learning_rate
                and step == len(history) - 1
                and last_learning_rate is not None
            ):
                values.setdefault("learning_rate", last_learning_rate)
            if self.writer is not None and any(
                (k, step) not in self._tensorboard_has for k in values
            ):
                filled["tensorboard"].append(step)
            if self.client is not None and any((k, step) not in self._mlflow_has for k in values):
                filled["mlflow"].append(step)
            self.log(values, step)
        return filled

    def log_params(self, params: dict[str, Any]) -> None:
        """Params known only during the run (a phase boundary): MLflow params, and the same
        ``key = value`` lines as TensorBoard text (tag ``params``)."""
        if not params:
            return
        if self.writer is not None:
            import tensorflow as tf

            lines = "\n".join(f"    {k} = {v}" for k, v in params.items())
            with self.writer.as_default():
                tf.summary.text("params", lines, step=0)
            self.writer.flush()
        if self.client is not None and self.run_id is not None and self.mlflow_reachable:
            with contextlib.suppress(Exception):  # the same value again on resume is fine
                for key, value in params.items():
                    self.client.log_param(self.run_id, key, value)

    @property
    def mlflow_reachable(self) -> bool:
        return self.mlflow_error is None

    def _send(self, metrics: dict[str, float], step: int) -> None:
        """To MLflow; once it fails, keep this and later values for :meth:`retry_unsent`
        (TensorBoard and ``history.csv`` go on; training does not stop)."""
        if self.mlflow_error is None:
            try:
                _log_mlflow(self.client, self.run_id, metrics, step)
                return
            except Exception as exc:
                self.mlflow_error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                print(
                    f"MLflow did not answer at step {step} ({self.mlflow_error}); metrics go on "
                    "to TensorBoard and history.csv, and are sent again at the end.",
                    flush=True,
                )
        self.unsent.append((metrics, step))

    def retry_unsent(self) -> list[int]:
        """Send what MLflow missed; returns the steps that still could not be sent."""
        if not self.unsent:
            return []
        try:
            for metrics, step in list(self.unsent):
                _log_mlflow(self.client, self.run_id, metrics, step)
                self.unsent.remove((metrics, step))
            self.mlflow_error = None
        except Exception:
            pass
        return sorted({step for _, step in self.unsent})

    # -- Keras hooks -------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self.write_header()

    def on_train_batch_end(self, batch, logs=None):
        if not self.log_every_n_steps:
            return
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step % self.log_every_n_steps == 0:
            values = {f"batch_{k}": v for k, v in (logs or {}).items()}
            if self.log_learning_rate:
                values["batch_learning_rate"] = current_learning_rate(self.model.optimizer)
            self.log(values, step)

    def on_epoch_end(self, epoch, logs=None):
        values = dict(logs or {})
        if self.log_learning_rate and "learning_rate" not in values:
            values["learning_rate"] = current_learning_rate(self.model.optimizer)
        if not self._layout_written:
            self.write_layout(values)
        self.log(values, epoch)

    def write_layout(self, keys) -> None:
        """A TensorBoard "Custom Scalars" layout: each metric beside its ``val_`` twin."""
        self._layout_written = True
        if self.writer is None:
            return
        import tensorflow as tf
        from tensorboard.plugins.custom_scalar import layout_pb2
        from tensorboard.plugins.custom_scalar import summary as cs_summary

        pairs = sorted(k for k in keys if not k.startswith("val_") and f"val_{k}" in keys)
        if not pairs:
            return
        charts = [
            layout_pb2.Chart(
                title=f"{k}: train vs validation",
                multiline=layout_pb2.MultilineChartContent(tag=[rf"^{k}$", rf"^val_{k}$"]),
            )
            for k in pairs
        ]
        layout = layout_pb2.Layout(
            category=[layout_pb2.Category(title="train vs validation", chart=charts)]
        )
        with self.writer.as_default():
            tf.summary.experimental.write_raw_pb(cs_summary.pb(layout).SerializeToString(), step=0)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None


def _log_mlflow(client, run_id: str, metrics: dict[str, float], step: int) -> None:
    """One synchronous ``log_batch`` (the value is in the store when the epoch ends)."""
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, int(step)) for k, v in metrics.items()]
    if items:
        client.log_batch(run_id, metrics=items)


def _tensorboard_steps(log_dir: Path) -> set[tuple[str, int]]:
    """The (tag, step) pairs of the scalars in the event files directly in ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={TENSORS: 0})
    acc.Reload()
    return {
        (tag, int(event.step))
        for tag in acc.Tags().get("tensors", [])
        for event in acc.Tensors(tag)
    }


def _mlflow_steps(client, run_id: str) -> set[tuple[str, int]]:
    """The (key, step) pairs of every metric an MLflow run holds."""
    return {
        (key, int(m.step))
        for key in client.get_run(run_id).data.metrics
        for m in client.get_metric_history(run_id, key)
    }


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _markdown_code(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
