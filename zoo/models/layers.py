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


@keras.saving.register_keras_serializable(package="zoo")
class PatchWhitening(keras.layers.Conv2D):
    """A frozen first convolution that whitens ``patch_size`` x ``patch_size`` patches of
    its input: its filters are the eigenvectors of the patches' covariance, each divided by
    the square root of its eigenvalue (plus ``epsilon``), and each again negated, so that a
    ReLU after it keeps both signs (``2 * patch_size**2 * channels`` outputs). The bias
    centres every output on the patches' mean. As in airbench's whitening layer (Jordan
    2024), it is computed from training images, never trained: :meth:`adapt` sets it, before
    the first step (``zoo.training`` calls it with the run's first training batch).

    Until ``adapt`` runs it is an ordinary random convolution, which is what a model built
    without data (``zoo info``, a summary) shows.
    """

    def __init__(self, patch_size: int = 2, epsilon: float = 5e-4, **kwargs):
        for fixed in ("filters", "kernel_size", "use_bias"):
            kwargs.pop(fixed, None)
        kwargs.setdefault("padding", "same")
        kwargs.setdefault("trainable", False)
        self.patch_size = int(patch_size)
        self.epsilon = float(epsilon)
        super().__init__(filters=1, kernel_size=self.patch_size, use_bias=True, **kwargs)

    def build(self, input_shape):
        self.filters = 2 * self.patch_size**2 * int(input_shape[-1])
        super().build(input_shape)

    def adapt(self, images) -> None:
        """Set the filters and bias from ``images`` (N, H, W, C), e.g. one training batch."""
        import numpy as np

        x = np.asarray(images, dtype="float64")
        k, channels = self.patch_size, x.shape[-1]
        # every k x k patch (stride 1, inside the image), flattened in the kernel's own
        # (row, column, channel) order
        windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))
        patches = np.moveaxis(windows, 3, -1).reshape(-1, k * k * channels)
        mean = patches.mean(axis=0)
        covariance = np.cov(patches - mean, rowvar=False).reshape(k * k * channels, -1)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        filters = eigenvectors / np.sqrt(np.maximum(eigenvalues, 0.0) + self.epsilon)
        filters = np.concatenate([filters, -filters], axis=1)  # (k*k*c, 2*k*k*c)
        kernel = filters.reshape(k, k, channels, -1)
        self.kernel.assign(kernel.astype("float32"))
        self.bias.assign((-(mean @ filters)).astype("float32"))

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("filters", "kernel_size", "use_bias"):
            config.pop(key, None)
        config.update(patch_size=self.patch_size, epsilon=self.epsilon)
        return config


def adapt_patch_whitening(net, images) -> int:
    """Set every :class:`PatchWhitening` layer of ``net`` (a first layer: it sees the
    images) from ``images``; returns how many there were."""
    from zoo._compat import nested_layers

    found = [layer for layer in nested_layers(net) if isinstance(layer, PatchWhitening)]
    for layer in found:
        layer.adapt(images)
    return len(found)
