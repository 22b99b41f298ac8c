"""Evaluation of a classifier: per-class scores, confusion matrix, the most confident mistakes.

The model is a fixed linear map (its weights are set by hand), so every prediction, and thus
every count below, is known in advance. Precision, recall and F1 are also checked against
scikit-learn's ``precision_recall_fscore_support``.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from zoo.analysis.evaluation import evaluate_classification, log_images, metric_key
from zoo.datasets.base import Dataset

NAMES = ["cat", "dog", "T-shirt/top"]
TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2])
# what each image's three first pixels say (the model's logits): argmax is the prediction
LOGITS = np.array(
    [[2, 0, 0], [2, 0, 0], [0, 1, 0], [0, 2, 0], [0, 2, 0], [0, 0, 2], [3, 0, 0], [0, 0, 2]],
    dtype="float32",
)


def tiny_image_case(target="sparse"):
    import keras
    import tensorflow as tf

    x = np.zeros((8, 4, 4, 1), dtype="float32")
    x[:, 0, :3, 0] = LOGITS
    y = TRUE if target == "sparse" else np.eye(3, dtype="float32")[TRUE]
    model = keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, use_bias=False, activation="softmax"),
        ]
    )
    kernel = np.zeros((16, 3), dtype="float32")
    kernel[:3, :3] = np.eye(3)
    model.layers[-1].set_weights([kernel])
    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    data = Dataset("tiny", None, None, test, (4, 4, 1), target, 3, list(NAMES))
    return model, data


def test_per_class_scores_confusion_matrix_and_files(tmp_path):
    from sklearn.metrics import precision_recall_fscore_support

    model, data = tiny_image_case()
    report = evaluate_classification(model, data, tmp_path / "evaluation")
    m = report.metrics
    # confusion rows (true): cat [2, 1, 0], dog [0, 2, 0], T-shirt/top [1, 0, 2]
    assert m["test_precision/cat"] == pytest.approx(2 / 3)
    assert m["test_recall/dog"] == 1.0
    assert m["test_f1/T-shirt_top"] == pytest.approx(0.8)
    assert m["test_macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0.8) / 3)
    pred = LOGITS.argmax(-1)
    p, r, f, _ = precision_recall_fscore_support(TRUE, pred, zero_division=0)
    for i, name in enumerate(NAMES):
        key = metric_key(name)
        assert [m[f"test_{w}/{key}"] for w in ("precision", "recall", "f1")] == pytest.approx(
            [p[i], r[i], f[i]]
        )

    folder = tmp_path / "evaluation"
    with open(folder / "confusion_matrix.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["true \\ predicted", *NAMES]
    assert [row[1:] for row in rows[1:]] == [["2", "1", "0"], ["0", "2", "0"], ["1", "0", "2"]]
    with open(folder / "per_class.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [row["class"] for row in table] == [*NAMES, "macro mean"]
    assert table[-1]["support"] == "8"
    assert json.loads((folder / "metrics.json").read_text()) == pytest.approx(m)
    assert set(report.images) == {"confusion_matrix", "most_confident_wrong"}
    for path in report.images.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "T-shirt/top" in report.text and "macro mean" in report.text


def test_most_confident_wrong_comes_first():
    from zoo.analysis.evaluation import most_confident_wrong, predict

    model, data = tiny_image_case()
    _, true, prob = predict(model, data.test)
    # image 6 (T-shirt/top taken for a cat, logit 3) before image 2 (a cat taken for a dog)
    assert list(most_confident_wrong(true, prob, 16)) == [6, 2]
    assert list(most_confident_wrong(true, prob, 1)) == [6]


def test_onehot_targets_and_non_classification(tmp_path):
    model, data = tiny_image_case("onehot")
    report = evaluate_classification(model, data, tmp_path)
    assert report.metrics["test_recall/dog"] == 1.0
    for target in ("regression", "multilabel"):
        data.target = target
        assert evaluate_classification(model, data, tmp_path / target) is None
    assert not (tmp_path / "regression").exists()


def test_text_data_lists_sentences_instead_of_images(tmp_path):
    import keras
    import tensorflow as tf

    vocabulary = ["", "[UNK]", "good", "bad", "movie", "a|b"]
    x = np.array([[2, 4, 0, 0], [3, 4, 0, 0], [2, 5, 0, 0], [3, 0, 0, 0]])
    y = np.array([1, 0, 0, 1])  # the last two are labelled against their words
    model = keras.Sequential(
        [
            keras.Input((4,), dtype="int32"),
            keras.layers.Embedding(6, 2),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Activation("softmax"),
        ]
    )
    emb = np.zeros((6, 2), dtype="float32")
    emb[2], emb[3] = [0, 4], [4, 0]  # "good" says positive, "bad" negative
    model.layers[0].set_weights([emb])
    test = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    data = Dataset("mr", None, None, test, (4,), "sparse", 2, ["negative", "positive"])
    data.extras["vocabulary"] = vocabulary
    report = evaluate_classification(model, data, tmp_path)
    assert set(report.images) == {"confusion_matrix"}
    lines = (tmp_path / "most_confident_wrong.md").read_text().splitlines()
    assert lines[0] == "| confidence | true | predicted | sentence |"
    # "bad" alone averages over 4 positions: softmax([1, 0]) = 0.731; "good a|b": [0, 1] too
    assert lines[2:] == [
        "| 0.731 | negative | positive | good a\\|b |",
        "| 0.731 | positive | negative | bad |",
    ]


def test_log_images_writes_image_summaries(tmp_path):
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import (
        TENSORS,
        EventAccumulator,
    )
    from tensorboard.util.tensor_util import make_ndarray

    model, data = tiny_image_case()
    report = evaluate_classification(model, data, tmp_path / "evaluation")
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    log_images(writer, report.images, step=3)
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={TENSORS: 0}).Reload()
    assert set(events.Tags()["tensors"]) == {"confusion_matrix", "most_confident_wrong"}
    (event,) = events.Tensors("confusion_matrix")
    width, height, png = make_ndarray(event.tensor_proto)
    assert event.step == 3 and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int(width), int(height)) == tf.io.decode_png(png).shape[1::-1]
