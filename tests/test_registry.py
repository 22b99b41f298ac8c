from __future__ import annotations

import pytest

import zoo
from zoo.errors import UnknownNameError, ZooError


def test_list_models_patterns():
    assert {"cnn", "mlp"} <= set(zoo.list_models())
    assert zoo.list_models("cn*") == ["cnn"]
    assert "cnn" not in zoo.list_models("*", exclude="c*")
    assert zoo.list_models("*", family="mlp") == ["mlp"]
    assert zoo.list_models("no-such-*") == []


def test_unknown_model_suggests_closest():
    with pytest.raises(UnknownNameError) as err:
        zoo.build("cnnn")
    message = str(err.value)
    assert "Unknown model 'cnnn'" in message and "'cnn'" in message
    assert isinstance(err.value, ZooError)


def test_build_overrides_and_info():
    model = zoo.build("cnn", input_shape=(16, 16, 3), classes=4, filters=[8])
    assert model.output_shape == (None, 4)
    data = zoo.info("mlp", units=[10])
    # 784*10 + 10 weights in the hidden layer, 10*10 + 10 in the classifier
    assert data["trainable_params"] == 784 * 10 + 10 + 10 * 10 + 10
    assert data["macs"] == 784 * 10 + 10 * 10
    assert data["family"] == "mlp"


def test_register_decorator_adds_a_gin_configurable_model():
    import gin
    from keras import layers

    from zoo.models.registry import _REGISTRY

    @zoo.register("tiny_test_model", family="test", default_input=(4,), default_classes=2)
    def tiny_test_model(input_shape=(4,), classes=2, units=3, **_):
        """A two-layer test model."""
        import keras

        inputs = keras.Input(input_shape)
        x = layers.Dense(units, name="hidden")(inputs)
        return keras.Model(inputs, layers.Dense(classes, name="predictions")(x))

    try:
        assert "tiny_test_model" in zoo.list_models("tiny*")
        gin.parse_config("tiny_test_model.units = 5")
        assert zoo.build("tiny_test_model").get_layer("hidden").units == 5
        assert zoo.get_spec("tiny_test_model").description == "A two-layer test model."
    finally:
        _REGISTRY.pop("tiny_test_model")
