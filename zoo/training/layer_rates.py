"""Layer-wise learning rates: a rate multiplier per variable, applied to the update itself.

Discriminative fine-tuning (Howard & Ruder 2018, ULMFiT, section 3.2) trains earlier layers
at lower rates than later ones; timm calls it layer-wise rate decay (``layer_decay``). Keras 3
has no per-variable parameter groups, so each optimizer zoo offers gets a subclass here whose
``update_step(gradient, variable, learning_rate)`` -- the per-variable step every Keras
optimizer runs -- receives ``learning_rate * multiplier[variable.path]``. Scaling the gradient
instead would do nothing with Adam, whose step does not depend on the gradient's scale.

The classes are registered with Keras (``zoo>LayerRateAdam``...): a checkpoint saved with
one loads back, multipliers included, once this module is imported.
"""

from __future__ import annotations

import keras

from zoo._compat import optimizer_variable


def _with_layer_rates(base: type) -> type:
    class LayerRates(base):
        def __init__(self, *args, layer_rates: dict[str, float] | None = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.layer_rates = {str(k): float(v) for k, v in (layer_rates or {}).items()}

        def multiplier(self, variable) -> float:
            # the backend may pass its own variable: find the Keras one, which has the path
            return self.layer_rates.get(optimizer_variable(self, variable).path, 1.0)

        def update_step(self, gradient, variable, learning_rate):
            rate = self.multiplier(variable)
            if rate != 1.0:
                learning_rate = learning_rate * rate
            return super().update_step(gradient, variable, learning_rate)

        def get_config(self):
            return {**super().get_config(), "layer_rates": dict(self.layer_rates)}

    name = f"LayerRate{base.__name__}"
    LayerRates.__name__ = LayerRates.__qualname__ = name
    return keras.saving.register_keras_serializable(package="zoo", name=name)(LayerRates)


CLASSES = {
    base.__name__: _with_layer_rates(base)
    for base in (
        keras.optimizers.Adam,
        keras.optimizers.AdamW,
        keras.optimizers.SGD,
        keras.optimizers.RMSprop,
        keras.optimizers.Adadelta,
        keras.optimizers.Adagrad,
        keras.optimizers.Nadam,
    )
}


def with_layer_rates(optimizer, layer_rates: dict[str, float]):
    """A copy of ``optimizer`` (same class and settings) whose update of each variable in
    ``layer_rates`` (by ``variable.path``) uses its learning rate times that multiplier."""
    cls = CLASSES[type(optimizer).__name__]
    return cls.from_config({**optimizer.get_config(), "layer_rates": layer_rates})
