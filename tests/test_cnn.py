from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.errors import ConfigError, ShapeError
from zoo.models.stats import count_params


def notop(**kw):
    kw.setdefault("input_shape", (28, 28, 1))
    return zoo.build("cnn", include_top=False, **kw)


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"filters": [8, 16]}, (7, 7, 16)),  # same padding, two 2x2 max pools: 28 -> 14 -> 7
        (
            {"filters": [4], "kernel_size": 5, "padding": "valid", "pool": None},
            (24, 24, 4),
        ),  # 28-5+1
        ({"filters": [8], "strides": 2, "pool": None}, (14, 14, 8)),  # ceil(28/2)
        ({"filters": [8], "convs_per_block": 2, "padding": "valid"}, (12, 12, 8)),  # 28->26->24->12
        ({"filters": [8], "pool": "avg", "pool_size": 4}, (7, 7, 8)),
        (
            {"filters": [8, 16], "kernel_size": [5, 3], "padding": ["valid", "same"]},
            (6, 6, 16),
        ),  # 24/2=12 -> 6
        ({"filters": [8, 16], "pointwise_filters": 3}, (7, 7, 3)),  # 1x1 conv mixes channels
        ({"filters": [8], "pooling": "avg"}, (8,)),
        ({"filters": [8], "pooling": "max"}, (8,)),
    ],
)
def test_cnn_output_shapes(kwargs, shape):
    assert notop(**kwargs).output_shape[1:] == shape


def test_cnn_exact_parameter_count():
    # conv 3x3x1x8 + 8 biases = 80; flatten 4*4*8 = 128 -> dense 10: 1290
    model = zoo.build(
        "cnn", input_shape=(8, 8, 1), classes=10, filters=[8], batch_norm=False, dense_units=[]
    )
    assert count_params(model) == (80 + 1290, 0)
    # with batch norm the conv loses its bias; BN adds 8 gamma + 8 beta (+16 moving stats)
    model = zoo.build("cnn", input_shape=(8, 8, 1), classes=10, filters=[8], dense_units=[])
    assert count_params(model) == (72 + 16 + 1290, 16)


def test_bridges_change_head_size():
    flat = zoo.build("cnn", input_shape=(28, 28, 1), filters=[8, 16], dense_units=[32])
    gap = zoo.build(
        "cnn", input_shape=(28, 28, 1), filters=[8, 16], dense_units=[32], bridge="global_avg"
    )
    assert flat.get_layer("fc1").kernel.shape == (7 * 7 * 16, 32)
    assert gap.get_layer("fc1").kernel.shape == (16, 32)
    gmp = zoo.build(
        "cnn", input_shape=(28, 28, 1), filters=[8], dense_units=[], bridge="global_max"
    )
    assert gmp.get_layer("predictions").kernel.shape == (8, 10)


def test_shape_error_names_block_and_input():
    with pytest.raises(ShapeError) as err:
        notop(input_shape=(8, 8, 1), filters=[4, 4, 4, 4])
    msg = str(err.value)
    assert "block 4" in msg and "8x8" in msg and "pooling" in msg
    with pytest.raises(ShapeError, match="block 2 conv 1 .5x5"):
        notop(input_shape=(8, 8, 1), filters=[4, 4], kernel_size=5, padding="valid", pool=None)


def test_bad_knobs_are_config_errors():
    with pytest.raises(ConfigError, match="bridge"):
        notop(bridge="flat")
    with pytest.raises(ConfigError, match="kernel_size has 3 entries"):
        notop(filters=[4, 4], kernel_size=[3, 3, 3])
    with pytest.raises(ConfigError, match="padding"):
        notop(padding="full")


def test_dense_needs_far_more_parameters_than_conv():
    """Lesson 2.2: on images a dense layer's weights grow with the pixels, a conv's do not."""
    small, large = (28, 28, 1), (56, 56, 1)
    mlp_small = zoo.info("mlp", input_shape=small)["trainable_params"]
    mlp_large = zoo.info("mlp", input_shape=large)["trainable_params"]
    conv_small = zoo.info("cnn", input_shape=small, bridge="global_avg")["trainable_params"]
    conv_large = zoo.info("cnn", input_shape=large, bridge="global_avg")["trainable_params"]
    assert conv_small == conv_large
    assert mlp_large - mlp_small == (56 * 56 - 28 * 28) * 256


def test_layer_names_are_hierarchical_and_model_round_trips(tmp_path):
    import keras

    model = zoo.build("cnn", input_shape=(12, 12, 1), classes=3, filters=[4, 8], convs_per_block=2)
    names = {layer.name for layer in model.layers}
    assert {"block1_conv1", "block1_bn2", "block2_pool", "flatten", "fc1", "predictions"} <= names
    x = np.random.default_rng(0).random((2, 12, 12, 1)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), rtol=1e-6)
