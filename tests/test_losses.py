"""Each loss against a value computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zoo.errors import UnknownNameError
from zoo.training import losses


def value(name, y_true, y_pred, **kw):
    fn = losses.get(name, **kw)
    return float(fn(np.asarray(y_true, dtype="float32"), np.asarray(y_pred, dtype="float32")))


def test_regression_losses():
    y, p = [[1.0], [2.0], [4.0]], [[2.0], [2.0], [1.0]]
    # errors 1, 0, 3: squared 1, 0, 9
    assert value("mse", y, p) == pytest.approx(10 / 3)
    assert value("rmse", y, p) == pytest.approx(math.sqrt(10 / 3))
    assert value("mae", y, p) == pytest.approx(4 / 3)


def test_nll_on_log_probabilities_with_sparse_and_onehot_targets():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    expected = -(math.log(0.7) + math.log(0.8)) / 2
    assert value("nll", [0, 2], np.log(probs)) == pytest.approx(expected, rel=1e-5)
    assert value("nll", [[1, 0, 0], [0, 0, 1]], np.log(probs)) == pytest.approx(expected, rel=1e-5)


def test_cross_entropies_with_probabilities_and_logits():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    expected = -(math.log(0.7) + math.log(0.8)) / 2
    assert value("sparse_categorical_crossentropy", [0, 2], probs) == pytest.approx(
        expected, rel=1e-5
    )
    assert value("categorical_crossentropy", [[1, 0, 0], [0, 0, 1]], probs) == pytest.approx(
        expected, rel=1e-5
    )
    logits = np.log(probs) + 3.0  # softmax is shift-invariant
    assert value(
        "sparse_categorical_crossentropy", [0, 2], logits, from_logits=True
    ) == pytest.approx(expected, rel=1e-5)


def test_binary_crossentropy_with_probabilities_and_logits():
    y, p = [[1.0, 0.0]], [[0.9, 0.2]]
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert value("binary_crossentropy", y, p) == pytest.approx(expected, rel=1e-4)
    logits = np.log(np.array(p) / (1 - np.array(p)))
    assert value("binary_crossentropy", y, logits, from_logits=True) == pytest.approx(
        expected, rel=1e-4
    )


def test_output_activation_follows_the_loss():
    assert losses.classifier_activation("sparse_categorical_crossentropy") == "softmax"
    assert losses.classifier_activation("sparse_categorical_crossentropy", from_logits=True) is None
    assert losses.classifier_activation("binary_crossentropy") == "sigmoid"
    assert losses.classifier_activation("rmse") is None


def test_unknown_loss():
    with pytest.raises(UnknownNameError, match="did you mean 'mse'"):
        losses.get("msee")
