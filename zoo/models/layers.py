"""Layers that Keras does not ship. Imported lazily by the blocks: this module imports Keras.

A ``.keras`` file holding one of these layers loads in a fresh process once this module is
imported (``import zoo.models.layers``); zoo's own loaders (``--resume``, ``weights=``) do so.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

    ``b = a / (bias + alpha * sum(a^2 over `size` neighbouring channels)) ** beta``; the paper
    uses ``size=5, alpha=1e-4, beta=0.75, bias=2``. No weights: it does not change parameter
    counts. Written with ``keras.ops`` (a padded cumulative sum over channels), so it saves to
    ``.keras`` and runs on any backend.
    """

    def __init__(
        self,
        size: int = 5,
        alpha: float = 1e-4,
        beta: float = 0.75,
        bias: float = 2.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.size = int(size)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.bias = float(bias)

    def call(self, inputs):
        squared = ops.square(inputs)
        half = self.size // 2
        rank = len(inputs.shape)
        padded = ops.pad(squared, [[0, 0]] * (rank - 1) + [[half + 1, self.size - half - 1]])
        cumulative = ops.cumsum(padded, axis=-1)
        window = cumulative[..., self.size :] - cumulative[..., : -self.size]
        return inputs / ops.power(self.bias + self.alpha * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(size=self.size, alpha=self.alpha, beta=self.beta, bias=self.bias)
        return config


@keras.saving.register_keras_serializable(package="zoo")
class ImagePreprocess(keras.layers.Layer):
    """``x * input_scale``, grayscale repeated to three channels, then ``x @ matrix + bias``
    per pixel: a pretrained network's own ``preprocess_input`` as a layer (no weights)."""

    def __init__(self, matrix, bias, input_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.matrix = [[float(v) for v in row] for row in matrix]
        self.bias = [float(v) for v in bias]
        self.input_scale = float(input_scale)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype) * self.input_scale
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        matrix = ops.convert_to_tensor(self.matrix, dtype=self.compute_dtype)
        bias = ops.convert_to_tensor(self.bias, dtype=self.compute_dtype)
        return ops.tensordot(x, matrix, axes=[[len(x.shape) - 1], [0]]) + bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        return {
            **super().get_config(),
            "matrix": self.matrix,
            "bias": self.bias,
            "input_scale": self.input_scale,
        }
