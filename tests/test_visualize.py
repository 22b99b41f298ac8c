"""`zoo show`: a trained CNN's filters and feature maps as PNGs, in TensorBoard and in MLflow."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import zoo
from zoo.analysis.show import feature_model, visualize
from zoo.cli import main as cli
from zoo.errors import ConfigError, UnknownNameError

TINY = [
    "digits.train_size = 200",
    "cnn.filters = [4, 6]",
    "cnn.dense_units = [8]",
    "train.epochs = 1",
    "train.run_name = 'show'",
]


def test_zoo_show_writes_pngs_image_summaries_and_artifacts(capsys, mlflow_db):
    from tensorboard.backend.event_processing.event_accumulator import (
        TENSORS,
        EventAccumulator,
    )
    from tensorboard.util.tensor_util import make_ndarray

    run = zoo.train("digits_cnn", TINY)
    capsys.readouterr()
    code = cli(
        ["show", str(run.run_dir), "--filters", "--feature-maps", "block1_relu1", "block2_pool"]
    )
    assert code == 0
    out = capsys.readouterr().out
    names = ["filters.png", "feature_maps_block1_relu1.png", "feature_maps_block2_pool.png"]
    for name in names:
        assert (run.run_dir / "show" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert str(run.run_dir / "show" / name) in out
    events = EventAccumulator(
        str(run.run_dir / "tensorboard" / "show"), size_guidance={TENSORS: 0}
    ).Reload()
    tags = set(events.Tags()["tensors"])
    assert tags == {"filters", "feature_maps/block1_relu1", "feature_maps/block2_pool"}
    width, height, _ = make_ndarray(events.Tensors("filters")[0].tensor_proto)
    assert int(width) > 0 and int(height) > 0
    artifacts = MlflowClient(tracking_uri=mlflow_db).list_artifacts(run.mlflow_run_id, "show")
    assert sorted(a.path for a in artifacts) == sorted(f"show/{n}" for n in names)
    # zoo compare still agrees: image summaries are not scalars
    assert set(zoo.compare(run.run_dir)["status"]) == {"ok"}


def test_user_errors_are_one_sentence(tmp_path, capsys):
    assert cli(["show", str(tmp_path), "--filters"]) == 2
    assert "is not a run directory" in capsys.readouterr().err
    model = zoo.build("cnn", input_shape=(8, 8, 1), filters=[4], dense_units=[], classes=3)
    with pytest.raises(UnknownNameError, match="Unknown layer 'block1_relu': did you mean"):
        feature_model(model, ["block1_relu"])
    with pytest.raises(ConfigError, match="'predictions' outputs shape \\(3,\\), not a feature"):
        feature_model(model, ["predictions"])
    with pytest.raises(ConfigError, match="has no 2D convolution"):
        visualize(zoo.build("mlp", input_shape=(8, 8, 1)), None, tmp_path)


def test_feature_maps_are_the_layer_outputs(tmp_path):
    model = zoo.build("cnn", input_shape=(8, 8, 1), filters=[4], dense_units=[], classes=3)
    images = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    maps = np.asarray(feature_model(model, ["block1_pool"])(images))
    assert maps.shape == (2, 4, 4, 4)
    written = visualize(model, images, tmp_path, filters=False, layers=["block1_pool"])
    assert list(written) == ["feature_maps/block1_pool"]
