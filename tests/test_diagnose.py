"""Each verdict of the diagnosis on a synthetic history, with the exact epoch it points at."""

from __future__ import annotations

import math

import pytest

from zoo.diagnose import diagnose
from zoo.errors import ZooError


def verdict(loss, val=None, **kw):
    history = {"loss": loss}
    if val is not None:
        history["val_loss"] = val
    findings = diagnose(history, **kw)
    assert len(findings) == 1
    return findings[0]


def test_overfitting_names_the_best_epoch_and_the_growing_gap():
    f = verdict(
        [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
        [1.05, 0.85, 0.7, 0.65, 0.7, 0.8, 0.9, 1.0],
    )
    assert (f.kind, f.epoch) == ("overfitting", 3)
    assert "lowest at epoch 3 (0.65)" in f.message
    assert "grew from 0.15 to 0.9" in f.message
    assert "early stopping" in f.advice and "dropout" in f.advice
    assert "augmentation" in f.advice


def test_steps_as_logged_are_used_for_the_epochs():
    loss = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    val = [1.05, 0.85, 0.7, 0.65, 0.7, 0.8, 0.9, 1.0]
    as_steps = {
        "loss": {s + 10: v for s, v in enumerate(loss)},
        "val_loss": {s + 10: v for s, v in enumerate(val)},
    }
    (f,) = diagnose(as_steps)
    assert (f.kind, f.epoch) == ("overfitting", 13)


def test_nan_loss_means_learning_rate_too_high():
    f = verdict([1.0, 0.8, math.nan, math.nan])
    assert (f.kind, f.epoch) == ("lr_too_high", 2)
    assert "became nan at epoch 2" in f.message


def test_divergence_means_learning_rate_too_high():
    f = verdict([2.0, 1.5, 1.2, 1.9, 5.0], [2.0, 1.6, 1.3, 2.0, 5.5])
    assert (f.kind, f.epoch) == ("lr_too_high", 3)
    assert "diverged at epoch 3 (1.9, against a best of 1.2" in f.message


def test_oscillation_means_learning_rate_too_high():
    f = verdict([1.0, 0.8, 0.9, 0.7, 0.85, 0.65, 0.8, 0.6])
    assert (f.kind, f.epoch) == ("lr_too_high", 2)
    assert "rising in 3 of 7 epochs" in f.message


def test_two_small_bumps_are_not_oscillation():
    f = verdict([1.0, 0.8, 0.81, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.07])
    assert f.kind != "lr_too_high"


def test_plateau_calls_for_a_scheduler():
    f = verdict(
        [1.0, 0.6, 0.45, 0.40, 0.399, 0.398, 0.398, 0.397],
        [1.0, 0.62, 0.47, 0.42, 0.419, 0.418, 0.419, 0.418],
    )
    assert (f.kind, f.epoch) == ("plateau", 3)
    assert "val_loss last improved at epoch 3" in f.message
    assert "in the 4 epochs after it" in f.message
    assert "reduce the rate on plateau" in f.advice and "cosine" in f.advice


def test_weak_learning_is_underfitting():
    f = verdict(
        [2.30, 2.25, 2.21, 2.18, 2.16, 2.15],
        [2.31, 2.26, 2.22, 2.19, 2.17, 2.16],
    )
    assert (f.kind, f.epoch) == ("underfitting", 5)
    assert "fell only 7% in 6 epochs" in f.message
    assert "capacity" in f.advice


def test_still_improving_at_the_end_is_underfitting():
    f = verdict(
        [1.0, 0.5, 0.3, 0.2, 0.14, 0.1],
        [1.0, 0.52, 0.31, 0.21, 0.15, 0.105],
    )
    assert (f.kind, f.epoch) == ("underfitting", 5)
    assert "still improving" in f.message and "25.0% per epoch" in f.message
    assert "train.epochs" in f.advice


def test_healthy_run():
    f = verdict(
        [1.0, 0.5, 0.3, 0.25, 0.24, 0.235],
        [1.0, 0.55, 0.35, 0.3, 0.29, 0.288],
    )
    assert (f.kind, f.epoch) == ("healthy", 5)


def test_too_short_and_missing_loss():
    assert verdict([1.0, 0.5]).kind == "too_short"
    with pytest.raises(ZooError, match="no 'loss' values"):
        diagnose({"accuracy": [0.1, 0.2, 0.3]})


def test_thresholds_are_arguments():
    loss = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    val = [1.05, 0.85, 0.7, 0.65, 0.7, 0.8, 0.9, 1.0]
    (f,) = diagnose({"loss": loss, "val_loss": val}, overfit_patience=5)
    assert f.kind != "overfitting"
