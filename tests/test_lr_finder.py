"""The learning-rate range test (Smith 2017, sec. 3.3): sweep, smoothing, suggestion, CLI."""

from __future__ import annotations

import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from callbacks.lr_finder import lr_range_test, smooth, suggest, sweep_rates
from zoo.cli import main
from zoo.tracking.readers import read_mlflow, read_tensorboard, tensorboard_tags


def test_sweep_is_exponential():
    assert sweep_rates(1e-4, 1.0, 5) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0], rel=1e-12)
    with pytest.raises(ValueError, match="min_lr < max_lr"):
        sweep_rates(1.0, 0.1, 10)


def test_smoothing_is_bias_corrected():
    # beta 0.5: averages 0.5, 1.25, 2.125 divided by 1 - 0.5**i: 1, 1.6667, 2.4286
    assert smooth([1.0, 2.0, 3.0], beta=0.5) == pytest.approx([1.0, 5 / 3, 17 / 7])
    assert smooth([3.0, 3.0, 3.0], beta=0.98) == pytest.approx([3.0, 3.0, 3.0])


def test_suggestion_is_the_steepest_descent():
    # a loss that falls fastest at lr = 1e-3 (the centre of the tanh), reaches its minimum
    # near 1e-2, then rises; 0.1 decade between points
    lrs = np.logspace(-6, 0, 61)
    loss = 2.0 - np.tanh(2.0 * (np.log10(lrs) + 3.0)) + 50.0 * lrs**2
    steepest, lowest = suggest(lrs, loss)
    assert steepest == pytest.approx(1e-3, rel=1e-9)
    assert lowest == pytest.approx(lrs[int(np.argmin(loss))])
    assert 3e-3 < lowest < 3e-2
    # a loss that only rises has no steepest descent
    assert suggest(lrs, lrs)[0] is None


def blobs(n=1024, seed=0):
    """Four Gaussian classes in 8 dimensions, batches of 32."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 3.0, size=(4, 8))
    y = rng.integers(0, 4, size=n)
    x = (centres[y] + rng.normal(0.0, 1.0, size=(n, 8))).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n, seed=seed).batch(32)


def small_net(optimizer):
    keras.utils.set_random_seed(1)
    net = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    net.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return net


def test_suggestion_is_within_10x_of_a_rate_that_trains():
    data = blobs()
    known = 0.1  # plain SGD at 0.1 trains this problem: checked here
    history = small_net(keras.optimizers.SGD(known)).fit(data, epochs=2, verbose=0).history
    assert history["loss"][-1] < 0.1 < 1.0 < math.log(4)  # from ln 4 = 1.39 at chance

    result = lr_range_test(
        small_net(keras.optimizers.SGD(1e-5)), data, min_lr=1e-5, max_lr=10.0, steps=100
    )
    assert len(result.losses) == len(result.learning_rates) == len(result.smoothed)
    assert result.learning_rates[0] == pytest.approx(1e-5)
    assert known / 10 <= result.suggestion <= known * 10
    assert result.smoothed == pytest.approx(smooth(result.losses, 0.98))


def test_sweep_stops_when_the_loss_diverges():
    result = lr_range_test(
        small_net(keras.optimizers.Adam(1e-5)), blobs(), min_lr=1e-5, max_lr=100.0, steps=100
    )
    assert result.diverged
    assert len(result.losses) < 100
    last = result.smoothed[-1]
    assert not math.isfinite(result.losses[-1]) or last > 4.0 * min(result.smoothed)
    assert 1e-3 <= result.suggestion <= 1.0


TINY = [
    "--bind",
    "digits.train_size=300",
    "--bind",
    "cnn.filters=[8]",
    "--bind",
    "cnn.dense_units=[16]",
    "--bind",
    "train.batch_size=32",
]


def test_find_lr_command_writes_plot_csv_tensorboard_and_mlflow(tmp_path, mlflow_db, capsys):
    args = ["find-lr", "digits_cnn", *TINY, "--steps", "40", "--min-lr", "1e-5"]
    assert main([*args, "--max-lr", "1", "--run-name", "sweep"]) == 0
    out = capsys.readouterr().out
    assert "suggested learning rate" in out and "--bind train.learning_rate=" in out
    run_dir = tmp_path / "runs" / "digits" / "sweep"
    for name in ("lr_finder.png", "lr_finder.csv", "summary.json", "operative_config.gin"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "lr_finder.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((run_dir / "summary.json").read_text())
    with open(run_dir / "lr_finder.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == summary["steps_done"] > 5

    tb = read_tensorboard(run_dir / "tensorboard")
    ml = read_mlflow(summary["mlflow_run_id"], mlflow_db)
    for key in ("learning_rate", "loss", "smoothed_loss"):
        assert sorted(tb[key]) == sorted(ml[key]) == list(range(len(rows)))
        for row in rows:
            step = int(row["step"])
            assert tb[key][step] == pytest.approx(float(row[key]), rel=1e-6)
            assert ml[key][step] == pytest.approx(float(row[key]), rel=1e-6)
    assert ml["suggested_learning_rate"][0] == pytest.approx(summary["suggested_learning_rate"])
    assert tb["suggested_learning_rate"][0] == pytest.approx(summary["suggested_learning_rate"])
    assert "lr_finder" in tensorboard_tags(run_dir / "tensorboard")  # the plot as an image

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_db)
    artifacts = {a.path for a in client.list_artifacts(summary["mlflow_run_id"])}
    assert {"lr_finder.png", "lr_finder.csv", "summary.json"} <= artifacts
    params = client.get_run(summary["mlflow_run_id"]).data.params
    assert params["lr_finder.steps"] == "40" and params["train.batch_size"] == "32"
    assert params["cnn.filters"] == "[8]" and params["train.optimizer"] == "adam"


def test_find_lr_user_errors_exit_2(capsys):
    assert main(["find-lr", "digits_cnn", "--min-lr", "1", "--max-lr", "0.1"]) == 2
    assert "min_lr < max_lr" in capsys.readouterr().err
    assert main(["find-lr", "no_such_recipe"]) == 2
