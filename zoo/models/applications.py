"""keras.applications models as transfer sources: ``train.init_from = 'keras.applications.ResNet50'``.

The base is built without its top, with ImageNet weights from keras' cache
(``$KERAS_HOME/models``, else ``~/.keras/models``), downloaded there when online. The data
reach it the way it was trained: resized (``keras.layers.Resizing``), grayscale repeated to
three channels and mapped exactly as the application's own ``preprocess_input`` maps 0-255
RGB pixels (:class:`zoo.models.layers.ImagePreprocess`). All three are layers of the model, so
it saves to ``.keras`` and loads back with no Lambda layer.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from zoo.errors import ConfigError

PREFIX = "keras.applications."


def is_application(source: str) -> bool:
    return str(source).startswith(PREFIX)


def keras_models_dir() -> Path:
    """Where keras keeps downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def application(source: str):
    """The ``keras.applications`` builder that ``source`` names."""
    import keras

    name = source[len(PREFIX) :]
    builder = getattr(keras.applications, name, None)
    if builder is None or not callable(builder) or not name[:1].isupper():
        known = [n for n in dir(keras.applications) if n[:1].isupper()]
        close = [n for n in known if n.lower().startswith(name.lower()[:6])][:5]
        hint = f" (did you mean {', '.join(PREFIX + n for n in close)}?)" if close else ""
        raise ConfigError(f"{source} is not a keras.applications model{hint}.")
    return builder


def pixel_map(builder) -> tuple[list[list[float]], list[float]]:
    """``preprocess_input`` of ``builder``'s module, measured as ``y = x @ matrix + bias`` on
    0-255 RGB pixels ('caffe', 'tf', 'torch' modes and the identity are all of this form)."""
    import numpy as np

    module = importlib.import_module(builder.__module__)
    probe = np.concatenate([np.zeros((1, 3)), 255.0 * np.eye(3)]).reshape(4, 1, 1, 3)
    out = np.asarray(module.preprocess_input(probe.astype("float32").copy()), "float64")
    out = out.reshape(4, 3)
    bias = out[0]
    matrix = (out[1:] - bias) / 255.0
    check = np.full((1, 1, 1, 3), 100.0, "float32")
    expected = np.asarray(module.preprocess_input(check.copy()), "float64").reshape(3)
    if not np.allclose(np.full(3, 100.0) @ matrix + bias, expected, atol=1e-3):
        raise ConfigError(f"{builder.__name__}'s preprocess_input is not an affine pixel map.")
    return matrix.tolist(), bias.tolist()


def resized_input(source: str, input_shape: Sequence[int], image_size: int | None):
    """``(inputs, resized, size)``: the data's Input and its ``input_resize`` to the square
    ``image_size`` (default: the larger side, at least 32) that a pretrained base takes."""
    import keras

    height, width, channels = (int(d) for d in input_shape)
    if channels not in (1, 3):
        raise ConfigError(f"{source} takes 1- or 3-channel images, not {channels} channels.")
    size = image_size or max(height, width, 32)
    inputs = keras.Input((height, width, channels), name="input")
    return inputs, keras.layers.Resizing(size, size, name="input_resize")(inputs), size


def application_base(
    source: str, input_shape: Sequence[int], weights: str | None, image_size: int | None
):
    """``source`` without its top, behind the resizing and preprocessing it expects."""

    from zoo.models.layers import ImagePreprocess

    builder = application(source)
    inputs, x, size = resized_input(source, input_shape, image_size)
    matrix, bias = pixel_map(builder)
    x = ImagePreprocess(matrix, bias, input_scale=255.0, name="input_preprocess")(x)
    try:
        return builder(include_top=False, weights=weights, input_tensor=x)
    except ValueError as exc:
        raise ConfigError(f"{source} at {size}x{size}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:
        raise missing_weights(source, exc) from None


def missing_weights(source: str, exc: Exception) -> Exception:
    """One sentence naming the weights file keras wanted and where to put it."""
    found = re.search(r"https?://\S+?/([\w.\-]+\.(?:h5|keras))", str(exc))
    if not found:
        return exc
    return ConfigError(
        f"{source}'s ImageNet weights are not in keras' cache and could not be downloaded: "
        f"put {found.group(1)} (from {found.group(0)}) in {keras_models_dir()}/, or set "
        "transfer.weights = None."
    )
