"""Tiny real runs: logs in TensorBoard and MLflow agree, runs always end, resume continues."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import zoo
from zoo.errors import ConfigError, UnknownNameError
from zoo.tracking.readers import read_mlflow, read_tensorboard, tensorboard_tags

TINY = [
    "digits.train_size = 300",
    "cnn.filters = [8]",
    "cnn.dense_units = [16]",
    "train.batch_size = 32",
]


def tiny_run(*extra, **overrides):
    return zoo.train("digits_cnn", [*TINY, *extra], **overrides)


def test_tensorboard_and_mlflow_hold_the_same_values(mlflow_db):
    result = tiny_run("train.epochs = 3", "train.run_name = 'same-values'")
    assert result.status == "FINISHED"
    run_dir = result.run_dir
    assert run_dir.as_posix().endswith("runs/digits/same-values")
    tb = read_tensorboard(run_dir / "tensorboard")
    ml = read_mlflow(result.mlflow_run_id, mlflow_db)
    ml.pop("wall_time_s")
    epoch_keys = {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert epoch_keys <= set(tb)
    assert set(tb) == set(ml)
    for key in epoch_keys:
        assert sorted(tb[key]) == [0, 1, 2], key
        for step, value in tb[key].items():
            assert ml[key][step] == pytest.approx(value, rel=1e-6), (key, step)
    # the test metrics are logged once, at the last epoch, in both
    assert tb["test_accuracy"] == pytest.approx(ml["test_accuracy"])
    assert result.test_metrics["test_accuracy"] == pytest.approx(tb["test_accuracy"][2])
    # history.csv holds the same per-epoch numbers
    for key in ("loss", "val_accuracy"):
        assert result.history[key] == pytest.approx([tb[key][s] for s in range(3)], rel=1e-6)


def test_run_directory_and_mlflow_run_contents(mlflow_db):
    result = tiny_run("train.epochs = 2", "train.run_name = 'contents'")
    run_dir = result.run_dir
    for name in ("operative_config.gin", "history.csv", "summary.json"):
        assert (run_dir / name).is_file(), name
    assert (run_dir / "checkpoints" / "best.keras").is_file()
    assert (run_dir / "checkpoints" / "last.keras").is_file()
    operative = (run_dir / "operative_config.gin").read_text()
    assert "train.epochs = 2" in operative and "cnn.filters = [8]" in operative

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["run_name"] == "contents"
    assert summary["mlflow"]["run_id"] == result.mlflow_run_id
    assert summary["mlflow"]["tracking_uri"].startswith("sqlite:////")
    assert summary["epochs_completed"] == 2
    assert set(summary["test_metrics"]) == {"test_loss", "test_accuracy"}
    assert (
        summary["trainable_params"]
        == zoo.models.stats.count_params(
            keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
        )[0]
    )
    assert summary["wall_time_s"] > 0

    client = MlflowClient(tracking_uri=mlflow_db)
    run = client.get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "contents"
    assert client.get_experiment(run.info.experiment_id).name == "digits"
    assert run.data.params["train.epochs"] == "2"
    assert run.data.params["cnn.filters"] == "[8]"
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"operative_config.gin", "model_summary.txt", "summary.json", "history.csv"} <= artifacts

    tags = tensorboard_tags(run_dir / "tensorboard")
    assert "operative_config" in tags and "model_summary" in tags
    assert "_hparams_/session_start_info" in tags
    assert "custom_scalars__config__" in tags  # train vs validation charts


class Boom(keras.callbacks.Callback):
    def __init__(self, exc, at_epoch):
        super().__init__()
        self.exc, self.at_epoch = exc, at_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise self.exc


def _status(run_dir, mlflow_db):
    summary = json.loads((run_dir / "summary.json").read_text())
    run = MlflowClient(tracking_uri=mlflow_db).get_run(summary["mlflow"]["run_id"])
    return summary, run


def test_exception_marks_run_failed_and_keeps_logs(tmp_path, mlflow_db):
    with pytest.raises(RuntimeError, match="disk on fire"):
        tiny_run(
            "train.epochs = 3",
            "train.run_name = 'boom'",
            extra_callbacks=[Boom(RuntimeError("disk on fire"), 1)],
        )
    run_dir = tmp_path / "runs" / "digits" / "boom"
    summary, run = _status(run_dir, mlflow_db)
    assert summary["status"] == "FAILED" and "disk on fire" in summary["failure"]
    assert run.info.status == "FAILED"
    assert (run_dir / "checkpoints" / "last.keras").is_file()
    assert sorted(read_tensorboard(run_dir / "tensorboard")["loss"]) == [0, 1]


def test_interrupt_marks_run_killed_and_resume_continues(tmp_path, mlflow_db):
    with pytest.raises(KeyboardInterrupt):
        tiny_run(
            "train.epochs = 3",
            "train.run_name = 'stopped'",
            extra_callbacks=[Boom(KeyboardInterrupt(), 0)],
        )
    run_dir = tmp_path / "runs" / "digits" / "stopped"
    summary, run = _status(run_dir, mlflow_db)
    assert summary["status"] == "KILLED" and run.info.status == "KILLED"
    assert summary["epochs_completed"] == 1
    first_id = summary["mlflow"]["run_id"]

    result = tiny_run("train.epochs = 3", "train.run_name = 'stopped'", resume=True)
    assert result.status == "FINISHED"
    assert result.mlflow_run_id == first_id
    assert len(result.history["loss"]) == 3
    ml = read_mlflow(first_id, mlflow_db)
    tb = read_tensorboard(run_dir / "tensorboard")
    assert sorted(ml["loss"]) == sorted(tb["loss"]) == [0, 1, 2]
    assert MlflowClient(tracking_uri=mlflow_db).get_run(first_id).info.status == "FINISHED"
    # the resumed optimizer continued its step count: 3 epochs of ceil(300/32) steps
    # (digits.train_size = 300 training examples)
    model = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    assert int(model.optimizer.iterations.numpy()) == 3 * int(np.ceil(300 / 32))


def test_nan_loss_stops_and_marks_failed(mlflow_db):
    result = tiny_run(
        "train.epochs = 3",
        "train.run_name = 'nan'",
        "train.optimizer = 'sgd'",
        "train.learning_rate = 1e30",
    )
    assert result.status == "FAILED"
    summary, run = _status(result.run_dir, mlflow_db)
    assert summary["status"] == "FAILED" and "loss became" in summary["failure"]
    assert run.info.status == "FAILED"
    assert run.data.tags["zoo.failure"] == summary["failure"]


def test_regression_and_multilabel_targets_train():
    reg = tiny_run("train.epochs = 1", "train.target = 'regression'", "train.run_name = 'reg'")
    assert set(reg.test_metrics) == {"test_loss", "test_mae", "test_rmse"}
    ml = tiny_run("train.epochs = 1", "train.target = 'multilabel'", "train.run_name = 'ml'")
    assert set(ml.test_metrics) == {"test_loss", "test_binary_accuracy"}
    nll = tiny_run("train.epochs = 1", "train.loss = 'nll'", "train.run_name = 'nll'")
    assert nll.status == "FINISHED"


def test_existing_run_directory_is_not_overwritten():
    tiny_run("train.epochs = 1", "train.run_name = 'twice'")
    with pytest.raises(zoo.ZooError, match="already exists"):
        tiny_run("train.epochs = 1", "train.run_name = 'twice'")


def test_digits_recipe_learns_and_batch_norm_statistics_settle():
    """With 20 steps per epoch, BN's moving statistics must settle (momentum 0.9 in the
    recipe): validation and test accuracy then follow training accuracy, not chance."""
    result = zoo.train("digits_cnn", ["train.epochs = 8", "train.run_name = 'learns'"])
    assert result.test_metrics["test_accuracy"] > 0.9
    assert result.history["val_accuracy"][-1] > 0.9


def test_weight_average_is_what_gets_tested_and_saved():
    class LastRawWeights(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.raw = [w.copy() for w in self.model.get_weights()]

    raw = LastRawWeights()
    result = tiny_run(
        "train.epochs = 3",
        "train.early_stopping_patience = 0",
        "optimizer.ema_momentum = 0.9",
        "train.run_name = 'ema'",
        extra_callbacks=[raw],
    )
    assert result.status == "FINISHED"
    saved = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras")
    # the saved weights are the average, not the last step's weights
    assert any(not np.allclose(a, b) for a, b in zip(saved.get_weights(), raw.raw, strict=True))
    data = zoo.datasets.load("digits", train_size=300, batch_size=32)
    accuracy = saved.evaluate(data.test, return_dict=True, verbose=0)["accuracy"]
    assert accuracy == pytest.approx(result.test_metrics["test_accuracy"])
    with pytest.raises(ConfigError, match="early stopping restores"):
        tiny_run(
            "train.early_stopping_patience = 2",
            "optimizer.ema_momentum = 0.9",
            "train.run_name = 'ema-es'",
        )


def test_flip_test_time_augmentation_scores_the_mean_of_both_views(mlflow_db):
    from sklearn.metrics import f1_score

    result = tiny_run(
        "train.epochs = 2", "train.test_time_augment = 'flip'", "train.run_name = 'tta'"
    )
    saved = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras")
    data = zoo.datasets.load("digits", train_size=300, batch_size=32)
    batches = [(x.numpy(), y.numpy()) for x, y in data.test]
    x, y = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    plain = saved.predict(x, verbose=0)
    mean = (plain + saved.predict(x[:, :, ::-1], verbose=0)) / 2
    m = result.test_metrics
    assert m["test_accuracy"] == pytest.approx((mean.argmax(1) == y).mean())
    assert m["test_plain_accuracy"] == pytest.approx((plain.argmax(1) == y).mean())
    assert (mean.argmax(1) != plain.argmax(1)).any()  # the mirror images changed some answers
    summary = json.loads((result.run_dir / "summary.json").read_text())
    macro = f1_score(y, mean.argmax(1), average="macro")
    assert summary["evaluation"]["test_macro_f1"] == pytest.approx(macro, abs=1e-6)
    ml = read_mlflow(result.mlflow_run_id, mlflow_db)
    assert ml["test_plain_accuracy"] == {1: pytest.approx(m["test_plain_accuracy"])}  # last epoch
    with pytest.raises(UnknownNameError, match="test_time_augment 'crop'"):
        tiny_run("train.test_time_augment = 'crop'", "train.run_name = 'tta-bad'")


def test_flip_test_time_augmentation_needs_images():
    from types import SimpleNamespace

    from zoo.training.setup import _check_combination

    settings = zoo.training.TrainSettings(dataset="mr", test_time_augment="flip")
    data = SimpleNamespace(input_shape=(56,))
    with pytest.raises(ConfigError, match="mirrors images, but mr gives inputs of shape"):
        _check_combination(settings, data, None)


def test_classification_run_logs_confusion_matrix_and_per_class_metrics(mlflow_db):
    result = tiny_run("train.epochs = 1", "train.run_name = 'eval'")
    folder = result.run_dir / "evaluation"
    assert (folder / "confusion_matrix.png").is_file() and (folder / "per_class.csv").is_file()
    tb = read_tensorboard(result.run_dir / "tensorboard")
    ml = read_mlflow(result.mlflow_run_id, mlflow_db)
    per_class = {k for k in ml if k.startswith(("test_f1/", "test_recall/", "test_precision/"))}
    assert len(per_class) == 30  # 10 digits x 3 metrics, same names on both sides
    assert per_class <= set(tb) and "test_macro_f1" in tb
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["evaluation"]["test_macro_f1"] == pytest.approx(ml["test_macro_f1"][0])
    assert set(summary["test_metrics"]) == {"test_loss", "test_accuracy"}
    artifacts = {a.path for a in MlflowClient(mlflow_db).list_artifacts(result.mlflow_run_id)}
    assert {"evaluation", "layer_table.txt"} <= artifacts


def test_googlenet_trains_with_its_auxiliary_classifiers_from_a_recipe(fake_fashion, tmp_path):
    recipe = tmp_path / "googlenet_aux.gin"
    recipe.write_text(
        f"""
train.model = 'googlenet'
train.dataset = 'fashion_mnist'
train.experiment = 'aux'
train.epochs = 1
train.batch_size = 50
train.precision = 'float32'
fashion_mnist.data_dir = '{fake_fashion}'
fashion_mnist.validation_split = 0.2
googlenet.stem = 'cifar'
googlenet.aux_heads = True
googlenet.local_response_norm = False
"""
    )
    result = zoo.train(str(recipe), ["train.run_name = 'aux'"])
    assert result.status == "FINISHED"
    # a loss per output, weighted 1 / 0.3 / 0.3 (Szegedy et al. 2015, section 6)
    assert {"main_loss", "aux1_loss", "aux2_loss", "val_main_accuracy"} <= set(result.history)
    total = result.history["loss"][0]
    parts = [result.history[k][0] for k in ("main_loss", "aux1_loss", "aux2_loss")]
    assert total == pytest.approx(parts[0] + 0.3 * (parts[1] + parts[2]), rel=0.05)
    # tested and exported without the auxiliary classifiers
    assert set(result.test_metrics) == {"test_loss", "test_accuracy"}
    exported = keras.saving.load_model(result.run_dir / "checkpoints" / "export.keras")
    assert not isinstance(exported.output, dict) and exported.output.shape[-1] == 10
