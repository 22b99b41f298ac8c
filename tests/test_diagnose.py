"""Each verdict of the diagnosis on a synthetic history, with the exact epoch it points at."""

from __future__ import annotations

import math

import pytest

from zoo.analysis.diagnose import diagnose
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
    assert "augmentation" in f.advice and f.advice.startswith("Stop at epoch 3:")


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
    assert "diverged at epoch 3 (1.9, against a best of 1.2 before it) and ended at 5." in (
        f.message
    )


def test_a_spike_that_recovers_means_learning_rate_too_high():
    f = verdict(
        [1.0, 0.6, 0.45, 0.9, 0.42, 0.35, 0.3, 0.27], [1.0, 0.6, 0.5, 0.8, 0.48, 0.4, 0.36, 0.33]
    )
    assert (f.kind, f.epoch) == ("lr_too_high", 3)
    assert f.message == (
        "Learning rate too high: the training loss spiked at epoch 3 (0.9, from 0.45 at epoch "
        "2) and came back to 0.42 by epoch 4."
    )
    assert "warmup_cosine" in f.advice and "clipnorm" in f.advice


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
    assert "train.reduce_on_plateau = True" in f.advice


def test_weak_learning_is_underfitting():
    f = verdict(
        [2.30, 2.25, 2.21, 2.18, 2.16, 2.15],
        [2.31, 2.26, 2.22, 2.19, 2.17, 2.16],
    )
    assert (f.kind, f.epoch) == ("underfitting", 5)
    assert "fell only 7% in 6 epochs" in f.message
    assert "capacity" in f.advice


def test_still_improving_at_the_end_means_train_longer():
    f = verdict(
        [1.0, 0.5, 0.3, 0.2, 0.14, 0.1],
        [1.0, 0.52, 0.31, 0.21, 0.15, 0.105],
    )
    assert (f.kind, f.epoch) == ("still_improving", 5)
    assert "val_loss fell 25.0% per epoch over the last two epochs (0.21 at epoch 3" in f.message
    assert f.advice.startswith("Train longer (train.epochs, e.g. 12 instead of 6)")


def test_three_epochs_of_steep_progress_are_not_healthy():
    """A digits run: val accuracy 0.21 -> 0.74 -> 0.87 and val loss falling steeply at the end,
    with training loss above validation loss (dropout): it needs more epochs."""
    history = {
        "loss": [2.25, 1.55, 0.85],
        "val_loss": [2.1, 1.2, 0.6],
        "accuracy": [0.15, 0.55, 0.78],
        "val_accuracy": [0.21, 0.74, 0.87],
    }
    findings = diagnose(history)
    assert [f.kind for f in findings] == ["still_improving", "train_below_val"]
    assert findings[0].message == (
        "Still improving when training stopped: val_loss fell 35.7% per epoch over the last two "
        "epochs (2.1 at epoch 0 to 0.6 at epoch 2); val_accuracy rose from 0.21 to 0.87."
    )
    assert "Train longer" in findings[0].advice
    assert findings[1].message == (
        "Training accuracy below validation accuracy in 3 of 3 epochs (0.78 against 0.87 at "
        "epoch 2)."
    )
    assert findings[1].advice.startswith("Not a bug: dropout")


def test_flat_start_means_learning_rate_too_low():
    f = verdict([2.303, 2.3, 2.296, 2.1, 1.6, 1.2], [2.30, 2.298, 2.29, 2.05, 1.6, 1.25])
    assert (f.kind, f.epoch) == ("lr_too_low", 0)
    assert f.message == (
        "Learning rate too low: a flat start, the training loss moved by less than 1% per epoch "
        "in epochs 0-2 (2.303 to 2.296), then 1.2 by epoch 5."
    )
    assert f.advice.startswith("Raise the learning rate (3-10x")
    history = {
        "loss": [2.303, 2.3, 2.296, 2.1, 1.6, 1.2],
        "learning_rate": [1e-4, 4e-4, 7e-4, 1e-3, 1e-3, 1e-3],
    }
    (f,) = diagnose(history)
    assert f.advice.startswith("The rate was still warming up (0.0001 to 0.0007)")


def test_training_accuracy_above_validation_adds_no_note():
    history = {
        "loss": [1.0, 0.5, 0.3, 0.25, 0.24, 0.235],
        "val_loss": [1.0, 0.55, 0.35, 0.3, 0.29, 0.288],
        "accuracy": [0.5, 0.7, 0.8, 0.85, 0.86, 0.87],
        "val_accuracy": [0.55, 0.68, 0.78, 0.82, 0.83, 0.83],
    }
    assert [f.kind for f in diagnose(history)] == ["healthy"]


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
    with pytest.raises(ZooError, match="the thresholds are min_epochs, diverge_ratio"):
        diagnose({"loss": [1.0, 0.5, 0.2]}, patience=3)


def test_thresholds_are_arguments():
    loss = [1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    val = [1.05, 0.85, 0.7, 0.65, 0.7, 0.8, 0.9, 1.0]
    (f,) = diagnose({"loss": loss, "val_loss": val}, overfit_patience=5)
    assert f.kind != "overfitting"
