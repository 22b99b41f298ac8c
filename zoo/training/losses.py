"""Losses selectable by name in recipes (``train.loss = 'rmse'``).

| name | use it for | avoid it when |
|---|---|---|
| ``mse`` | regression with roughly Gaussian noise | outliers dominate (use ``mae``) |
| ``rmse`` | regression, reported in the target's units | as above; its gradient grows as error shrinks |
| ``mae`` | regression robust to outliers | you need smooth gradients near zero |
| ``nll`` | a model whose outputs are log-probabilities (log-softmax) | outputs are probabilities or logits |
| ``categorical_crossentropy`` | one-hot (or soft) class targets | labels are integers (use sparse) |
| ``sparse_categorical_crossentropy`` | integer class labels | several labels per example |
| ``binary_crossentropy`` | two classes, or multi-label (one sigmoid per label) | exactly one of many classes |
"""

from __future__ import annotations

from zoo._lazy import keras, ops
from zoo.errors import ConfigError, unknown

LOSSES = (
    "mse",
    "rmse",
    "mae",
    "nll",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
)
# What a loss expects its model to output: it decides the classifier activation.
OUTPUT_KIND = {
    "mse": "linear",
    "rmse": "linear",
    "mae": "linear",
    "nll": "log_softmax",
    "categorical_crossentropy": "softmax",
    "sparse_categorical_crossentropy": "softmax",
    "binary_crossentropy": "sigmoid",
}
DEFAULT_FOR_TARGET = {
    "sparse": "sparse_categorical_crossentropy",
    "onehot": "categorical_crossentropy",
    "multilabel": "binary_crossentropy",
    "regression": "mse",
}


def _classes():
    @keras.saving.register_keras_serializable(package="zoo")
    class RootMeanSquaredError(keras.losses.Loss):
        """sqrt(mean((y - y_hat)^2)) over the batch."""

        def __init__(self, name="rmse", reduction=None, dtype=None):
            super().__init__(name=name, reduction=None, dtype=dtype)

        def call(self, y_true, y_pred):
            y_true = ops.cast(y_true, y_pred.dtype)
            return ops.sqrt(ops.mean(ops.square(y_true - y_pred)))

        def get_config(self):
            return {"name": self.name}

    @keras.saving.register_keras_serializable(package="zoo")
    class NegativeLogLikelihood(keras.losses.Loss):
        """-log p(y) from log-probabilities; integer labels or one-hot targets."""

        def __init__(self, name="nll", reduction="sum_over_batch_size", dtype=None):
            super().__init__(name=name, reduction=reduction, dtype=dtype)

        def call(self, y_true, log_probs):
            if (
                len(y_true.shape) == len(log_probs.shape)
                and y_true.shape[-1] == log_probs.shape[-1]
            ):
                target = ops.cast(y_true, log_probs.dtype)
            else:
                labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
                target = ops.one_hot(labels, log_probs.shape[-1], dtype=log_probs.dtype)
            return -ops.sum(target * log_probs, axis=-1)

        def get_config(self):
            return {"name": self.name, "reduction": self.reduction}

    @keras.saving.register_keras_serializable(package="zoo")
    class SmoothedSparseCrossentropy(keras.losses.Loss):
        """Cross entropy of integer labels against targets smoothed by ``label_smoothing``
        (Szegedy et al. 2016, section 7): ``1 - label_smoothing`` on the true class plus
        ``label_smoothing / classes`` on every class. Keras' sparse cross entropy has no
        smoothing; this one-hot encodes the labels and smooths them as Keras'
        ``CategoricalCrossentropy`` does."""

        def __init__(
            self,
            label_smoothing=0.1,
            from_logits=False,
            name="sparse_categorical_crossentropy",
            reduction="sum_over_batch_size",
            dtype=None,
        ):
            super().__init__(name=name, reduction=reduction, dtype=dtype)
            self.label_smoothing = float(label_smoothing)
            self.from_logits = bool(from_logits)

        def call(self, y_true, y_pred):
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            target = ops.one_hot(labels, y_pred.shape[-1], dtype=y_pred.dtype)
            return keras.losses.categorical_crossentropy(
                target, y_pred, from_logits=self.from_logits, label_smoothing=self.label_smoothing
            )

        def get_config(self):
            return {
                "name": self.name,
                "reduction": self.reduction,
                "label_smoothing": self.label_smoothing,
                "from_logits": self.from_logits,
            }

    return RootMeanSquaredError, NegativeLogLikelihood, SmoothedSparseCrossentropy


_CACHE: dict = {}
SMOOTHABLE = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")


def get(name: str, from_logits: bool = False, label_smoothing: float = 0.0):
    """A Keras loss object by name; ``from_logits`` and ``label_smoothing`` apply to the
    cross entropies."""
    if name not in LOSSES:
        raise unknown("loss", name, LOSSES)
    if label_smoothing and name not in SMOOTHABLE:
        raise ConfigError(
            f"train.label_smoothing softens class targets; loss {name!r} has none: use one of "
            f"{', '.join(SMOOTHABLE)}, or train.label_smoothing = 0."
        )
    if not _CACHE:
        _CACHE["rmse"], _CACHE["nll"], _CACHE["smoothed"] = _classes()
    if name == "mse":
        return keras.losses.MeanSquaredError(name="mse")
    if name == "mae":
        return keras.losses.MeanAbsoluteError(name="mae")
    if name == "rmse":
        return _CACHE["rmse"]()
    if name == "nll":
        return _CACHE["nll"]()
    smoothing = float(label_smoothing)
    if name == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(
            from_logits=from_logits, label_smoothing=smoothing
        )
    if name == "sparse_categorical_crossentropy":
        if smoothing:
            return _CACHE["smoothed"](label_smoothing=smoothing, from_logits=from_logits)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    return keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)


def classifier_activation(name: str, from_logits: bool = False) -> str | None:
    """The output activation a loss expects (None for logits and regression)."""
    kind = OUTPUT_KIND[name]
    if kind == "linear" or (from_logits and kind in ("softmax", "sigmoid")):
        return None
    return kind
