"""What every vision builder shares: keras.applications' arguments, input checks, the head."""

from __future__ import annotations

from collections.abc import Sequence

from zoo._lazy import keras, layers
from zoo.errors import ConfigError, ShapeError

POOLINGS = (None, "avg", "max")


def model_input(input_tensor, input_shape, default_shape: Sequence[int], model_name: str):
    """Return the Input tensor of a builder, from ``input_tensor`` or ``input_shape``."""
    if input_tensor is not None:
        if not keras.backend.is_keras_tensor(input_tensor):
            return layers.Input(
                tensor=input_tensor, shape=tuple(input_tensor.shape[1:]), name="input"
            )
        return input_tensor
    shape = tuple(input_shape) if input_shape is not None else tuple(default_shape)
    if any(d is not None and int(d) <= 0 for d in shape):
        raise ShapeError(f"{model_name}: input_shape {shape} has a non-positive dimension.")
    return layers.Input(shape=shape, name="input")


def check_pooling(pooling, model_name: str) -> None:
    if pooling not in POOLINGS:
        raise ConfigError(f"{model_name}: pooling must be None, 'avg' or 'max', not {pooling!r}.")


def classifier(
    x,
    *,
    include_top: bool,
    pooling,
    classes: int,
    classifier_activation,
    dropout: float = 0.0,
):
    """Global pooling (notop) or pooling + dropout + ``predictions`` dense layer (top).

    The predictions layer computes in float32 so that mixed precision keeps a stable softmax.
    """
    if include_top:
        if len(x.shape) > 2:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout:
            x = layers.Dropout(dropout, name="head_dropout")(x)
        return layers.Dense(
            classes, activation=classifier_activation, dtype="float32", name="predictions"
        )(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def dense_stack(x, units, *, dropout: float = 0.0, activation="relu", first: int = 1):
    """Dense layers ``fc<first>``, ``fc<first+1>``... each followed by ``fc<k>_dropout``."""
    for k, n in enumerate(units, start=first):
        x = layers.Dense(n, activation=activation, name=f"fc{k}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{k}_dropout")(x)
    return x


def finish(inputs, outputs, *, input_tensor, name: str, weights):
    """Create the Model (from the source inputs of ``input_tensor``) and load ``weights``."""
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    model = keras.Model(inputs, outputs, name=name)
    if weights is not None:
        load_weights(model, weights)
    return model


def load_weights(model, weights: str) -> None:
    """Load weights: ``'imagenet'``, a torchvision/timm state dict (``.safetensors``,
    ``.pth``), a ``.weights.h5`` file or a saved ``.keras`` model."""
    import os

    from zoo.models import state_dict

    if weights == "imagenet":
        from zoo.models.imagenet import imagenet_state_dict

        state_dict.load_state_dict(model, imagenet_state_dict(model.name), source="imagenet")
        return
    if not isinstance(weights, str | os.PathLike) or not os.path.exists(weights):
        raise ConfigError(
            f"weights must be None, 'imagenet' or the path of an existing weights file "
            f"(.weights.h5, .keras, .safetensors, .pth), not {weights!r}."
        )
    path = os.fspath(weights)
    if state_dict.is_state_dict_file(path):
        state_dict.load_torch_weights(model, path)
        return
    if path.endswith(".keras"):
        from zoo.models.saving import load_model

        source = load_model(path, compile=False, action="load weights")
        model.set_weights(source.get_weights())
    else:
        model.load_weights(path)


def check_top(include_top: bool, weights, classes: int, model_name: str) -> None:
    if include_top and (classes is None or int(classes) < 1):
        raise ConfigError(
            f"{model_name}: classes must be a positive integer with include_top=True."
        )
