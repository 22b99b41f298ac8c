"""Freezing, extending and fine-tuning a trained network (zoo.training.transfer and train.init_from)."""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.errors import ConfigError
from zoo.models.stats import count_params
from zoo.training import transfer


def small_cnn():
    return zoo.build("cnn", input_shape=(8, 8, 1), classes=5, filters=[4, 8], dense_units=[16])


def test_freeze_unfreeze_and_batch_norm_stays_frozen():
    model = small_cnn()
    total = count_params(model)[0]
    transfer.freeze(model)
    assert count_params(model)[0] == 0
    transfer.unfreeze(model, from_layer="block2_conv1")
    bn = model.get_layer("block2_bn1")
    assert not bn.trainable and model.get_layer("block2_conv1").trainable
    assert not model.get_layer("block1_conv1").trainable
    # block2 conv (3*3*4*8) + fc1 (2*2*8*16 + 16) + predictions (16*5 + 5)
    assert count_params(model)[0] == 3 * 3 * 4 * 8 + (32 * 16 + 16) + (16 * 5 + 5)
    transfer.unfreeze(model, keep_bn_frozen=False)
    assert count_params(model)[0] == total
    transfer.freeze(model, pattern="block1_*")
    assert not model.get_layer("block1_bn1").trainable and model.get_layer("fc1").trainable
    with pytest.raises(ConfigError, match="no layer 'block9'"):
        transfer.freeze(model, up_to="block9")


def test_extend_replaces_the_head_and_shares_the_base():
    base = small_cnn()
    assert transfer.feature_layer(base) == "fc1"
    model = transfer.extend(base, 3, hidden_units=[7], dropout=0.1)
    assert model.output_shape == (None, 3)
    assert model.get_layer("transfer_fc1").units == 7
    assert model.get_layer("block1_conv1") is base.get_layer("block1_conv1")
    cut = transfer.extend(base, 2, cut_at="block2_pool")
    assert cut.get_layer("predictions").kernel.shape == (8, 2)  # pooled 8 channels


def test_transfer_run_keeps_frozen_weights_then_fine_tunes(tmp_path):
    tiny = ["cnn.filters = [8]", "cnn.dense_units = [16]", "train.batch_size = 32"]
    source = zoo.train(
        "digits_cnn",
        [*tiny, "train.epochs = 2", "digits.classes = [0, 1, 2, 3, 4]", "train.run_name = 'src'"],
    )
    assert source.summary["input_shape"] == [8, 8, 1]
    frozen = zoo.train(
        "digits_transfer",
        [*tiny, "train.epochs = 2", "transfer.fine_tune_epochs = 0", "train.run_name = 'frozen'"],
        init_from=str(source.run_dir),
    )
    import keras

    src_model = keras.saving.load_model(source.run_dir / "checkpoints" / "best.keras")
    new_model = keras.saving.load_model(frozen.run_dir / "checkpoints" / "last.keras")
    for name in ("block1_conv1", "block1_bn1", "fc1"):
        for a, b in zip(
            src_model.get_layer(name).get_weights(),
            new_model.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
    assert new_model.output_shape == (None, 5)

    tuned = zoo.train(
        "digits_transfer",
        [*tiny, "train.epochs = 1", "transfer.fine_tune_epochs = 2", "train.run_name = 'tuned'"],
        init_from=str(source.run_dir),
    )
    assert tuned.status == "FINISHED"
    assert len(tuned.history["loss"]) == 3  # 1 frozen epoch + 2 fine-tuning epochs, one history
    tuned_model = keras.saving.load_model(tuned.run_dir / "checkpoints" / "last.keras")
    assert not np.array_equal(
        src_model.get_layer("block1_conv1").get_weights()[0],
        tuned_model.get_layer("block1_conv1").get_weights()[0],
    )


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="No trained model"):
        transfer.load_base(tmp_path / "nothing")


def test_class_subsets_are_relabelled():
    ds = zoo.datasets.load("digits", classes=[7, 3])
    assert ds.num_outputs == 2 and ds.class_names == ["7", "3"]
    labels = np.concatenate([y.numpy() for _, y in ds.test])
    assert set(labels.tolist()) == {0, 1}
    with pytest.raises(ConfigError, match="out of range"):
        zoo.datasets.load("digits", classes=[3, 12])
