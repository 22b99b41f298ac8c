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
