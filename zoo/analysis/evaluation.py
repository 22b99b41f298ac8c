"""Evaluation of a classifier on its test split: which classes it gets right, which it confuses.

:func:`evaluate_classification` predicts the test split of a :class:`zoo.datasets.Dataset`
once and writes, into ``out_dir`` (a run's ``evaluation/`` folder):

- ``per_class.csv``: precision, recall, F1 and support of every class, and their macro means;
- ``confusion_matrix.csv`` (counts, rows are the true classes) and ``confusion_matrix.png``;
- ``most_confident_wrong.png``: the test images the model got wrong with the highest
  confidence (for text data, ``most_confident_wrong.md``: the sentences, as a table);
- ``metrics.json``: the metrics, named as they are logged to TensorBoard and MLflow.

Metric names are ``test_precision/<class>``, ``test_recall/<class>``, ``test_f1/<class>``,
``test_macro_precision``, ``test_macro_recall`` and ``test_macro_f1``: letters, digits, ``_``,
``-``, ``.`` and ``/`` only, which both TensorBoard tags and MLflow metric keys accept (a class
name's other characters become ``_``). Precision, recall and F1 follow scikit-learn's
definitions, with 0 where a class is never predicted or never present. Importing this module
does not import TensorFlow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PER_CLASS_CSV = "per_class.csv"
CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
WRONG_PNG = "most_confident_wrong.png"
WRONG_MD = "most_confident_wrong.md"
METRICS_JSON = "metrics.json"
CLASSIFICATION_TARGETS = ("sparse", "onehot")


@dataclass
class EvaluationReport:
    """What :func:`evaluate_classification` measured and wrote."""

    metrics: dict[str, float]
    images: dict[str, Path] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    text: str = ""


def metric_key(name: str) -> str:
    """A class name as part of a metric key valid in TensorBoard and MLflow."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name).strip()) or "_"


def predict(model, split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs, class indices, probabilities) of a tf.data split of (x, y) batches.

    One-hot targets become indices; a single sigmoid unit becomes two columns; outputs that
    are not probabilities (logits) go through a softmax (a sigmoid for one unit).
    """
    xs, ys, ps = [], [], []
    for x, y in split:
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        out = model(x, training=False)
        ps.append(np.asarray(out[0] if isinstance(out, list | tuple) else out, dtype="float64"))
    x, y, p = np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)
    y = y.argmax(-1) if y.ndim == 2 and y.shape[-1] > 1 else y.reshape(len(y))
    if p.shape[-1] == 1:
        p = p if ((p >= 0) & (p <= 1)).all() else 1 / (1 + np.exp(-p))
        p = np.concatenate([1 - p, p], axis=-1)
    elif (p < 0).any() or not np.allclose(p.sum(-1), 1, atol=1e-3):
        e = np.exp(p - p.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
    return x, y.astype("int64"), p


def confusion_matrix(true: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """Counts: row ``i``, column ``j`` = examples of class ``i`` predicted as ``j``."""
    matrix = np.zeros((classes, classes), dtype="int64")
    np.add.at(matrix, (true, pred), 1)
    return matrix


def per_class_scores(matrix: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    hits = np.diag(matrix).astype("float64")
    predicted, support = matrix.sum(0), matrix.sum(1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}


def _metrics(scores: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, float]:
    metrics = {}
    for what in ("precision", "recall", "f1"):
        for name, value in zip(names, scores[what], strict=True):
            metrics[f"test_{what}/{metric_key(name)}"] = float(value)
    for what in ("precision", "recall", "f1"):
        metrics[f"test_macro_{what}"] = float(scores[what].mean())
    return metrics


def _table(scores: dict[str, np.ndarray], names: Sequence[str]) -> list[list[Any]]:
    rows = [
        [name, *(round(float(scores[k][i]), 4) for k in ("precision", "recall", "f1"))]
        + [int(scores["support"][i])]
        for i, name in enumerate(names)
    ]
    macro = [round(float(scores[k].mean()), 4) for k in ("precision", "recall", "f1")]
    return [*rows, ["macro mean", *macro, int(scores["support"].sum())]]


def format_table(rows: list[list[Any]]) -> str:
    """The per-class rows as aligned text."""
    width = max(12, *(len(str(r[0])) for r in rows))
    lines = [f"{'class':<{width}}  precision  recall      f1  support"]
    for name, p, r, f, n in rows:
        lines.append(f"{name!s:<{width}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {n:7d}")
    return "\n".join(lines)


def _write_csvs(out_dir: Path, rows, matrix, names) -> list[Path]:
    import csv

    per_class, counts = out_dir / PER_CLASS_CSV, out_dir / CONFUSION_CSV
    with open(per_class, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "precision", "recall", "f1", "support"])
        writer.writerows(rows)
    with open(counts, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *names])
        writer.writerows([name, *map(int, row)] for name, row in zip(names, matrix, strict=True))
    return [per_class, counts]


def plot_confusion(matrix: np.ndarray, names: Sequence[str], path: Path) -> Path:
    """The confusion matrix as a PNG (:func:`confusion_figure`)."""
    confusion_figure(matrix, names).savefig(path, dpi=100)
    return path


def confusion_figure(matrix: np.ndarray, names: Sequence[str]):
    """The confusion matrix as a Figure (shown inline in Jupyter): colour by the share of the
    true class, counts written."""
    from matplotlib.figure import Figure

    k = len(names)
    share = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = max(4.0, 0.55 * k + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    font = max(6, 12 - k // 3)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                color = "white" if share[i, j] > 0.5 else "black"
                ax.text(
                    j, i, str(matrix[i, j]), ha="center", va="center", fontsize=font, color=color
                )
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set_title(f"confusion matrix ({int(matrix.sum())} test examples)")
    fig.tight_layout()
    return fig


def most_confident_wrong(true, prob, limit: int) -> np.ndarray:
    """Indices of the wrong predictions, the most confident first (at most ``limit``)."""
    pred = prob.argmax(-1)
    wrong = np.flatnonzero(pred != true)
    order = np.argsort(-prob[wrong, pred[wrong]], kind="stable")
    return wrong[order][:limit]


def _as_picture(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    image = np.asarray(image, dtype="float64")
    if image.ndim == 3 and image.shape[-1] not in (3,):
        image = image[..., 0]
    low, high = image.min(), image.max()
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return image, ("gray" if image.ndim == 2 else None)


def plot_wrong_images(x, true, prob, index, names, path: Path) -> Path:
    """The most confidently wrong test images as a PNG (:func:`wrong_images_figure`)."""
    wrong_images_figure(x, true, prob, index, names).savefig(path, dpi=100)
    return path


def wrong_images_figure(x, true, prob, index, names):
    """A grid of test images with their true class, predicted class and confidence."""
    from matplotlib.figure import Figure

    cols = min(4, len(index))
    rows = -(-len(index) // cols)
    fig = Figure(figsize=(2.3 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, index, strict=False):
        picture, cmap = _as_picture(x[i])
        ax.imshow(picture, cmap=cmap)
        pred = int(prob[i].argmax())
        ax.set_title(
            f"true: {names[true[i]]}\npredicted: {names[pred]} ({prob[i, pred]:.2f})", fontsize=8
        )
    fig.suptitle("most confidently wrong test images")
    fig.tight_layout()
    return fig


def wrong_sentences(x, true, prob, index, names, vocabulary: Sequence[str]) -> str:
    """The most confidently wrong sentences as a markdown table (padding left out)."""
    lines = ["| confidence | true | predicted | sentence |", "|---:|---|---|---|"]
    for i in index:
        pred = int(prob[i].argmax())
        ids = [int(t) for t in np.asarray(x[i]).reshape(-1) if 0 < int(t) < len(vocabulary)]
        words = " ".join(vocabulary[t] for t in ids).replace("|", "\\|")
        lines.append(f"| {prob[i, pred]:.3f} | {names[true[i]]} | {names[pred]} | {words} |")
    return "\n".join(lines) + "\n"


def evaluate_classification(
    model,
    dataset,
    out_dir: Path,
    *,
    class_names: Sequence[str] | None = None,
    vocabulary: Sequence[str] | None = None,
    max_examples: int = 16,
) -> EvaluationReport | None:
    """Evaluate a classifier on ``dataset.test``; None for other targets or no test split.

    ``class_names`` default to the dataset's; ``vocabulary`` (default
    ``dataset.extras["vocabulary"]``) makes the wrong examples a table of sentences.
    """
    if dataset.target not in CLASSIFICATION_TARGETS or dataset.test is None:
        return None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, true, prob = predict(model, dataset.test)
    k = prob.shape[-1]
    names = list(class_names or dataset.class_names or [])
    names = names if len(names) == k else [str(i) for i in range(k)]
    vocabulary = vocabulary if vocabulary is not None else dataset.extras.get("vocabulary")
    matrix = confusion_matrix(true, prob.argmax(-1), k)
    scores = per_class_scores(matrix)
    metrics = _metrics(scores, names)
    rows = _table(scores, names)
    files = _write_csvs(out_dir, rows, matrix, names)
    (out_dir / METRICS_JSON).write_text(json.dumps(metrics, indent=2) + "\n")
    files.append(out_dir / METRICS_JSON)
    images = {"confusion_matrix": plot_confusion(matrix, names, out_dir / CONFUSION_PNG)}
    index = most_confident_wrong(true, prob, max_examples)
    if len(index) and vocabulary is not None:
        (out_dir / WRONG_MD).write_text(wrong_sentences(x, true, prob, index, names, vocabulary))
        files.append(out_dir / WRONG_MD)
    elif len(index):
        path = plot_wrong_images(x, true, prob, index, names, out_dir / WRONG_PNG)
        images["most_confident_wrong"] = path
    return EvaluationReport(metrics=metrics, images=images, files=files, text=format_table(rows))


def log_images(writer, images: dict[str, Path], step: int) -> None:
    """Write PNG files into a ``tf.summary`` writer as image summaries named by the keys."""
    import tensorflow as tf

    with writer.as_default():
        for name, path in images.items():
            image = tf.io.decode_png(tf.io.read_file(str(path)), channels=3)
            tf.summary.image(name, image[None], step=step)
    writer.flush()
