"""Optimizers, losses and metrics chosen by name (part of a run's setup phase).

``optimizer.*`` gin knobs configure :func:`make_optimizer`; ``train.optimizer`` names it (or
``optimizer.name``, resolved once by :func:`zoo.training.settings.read_settings`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gin

from zoo.errors import ConfigError, unknown
from zoo.training.settings import OPTIMIZERS


@gin.configurable("optimizer", module="zoo")
def make_optimizer(
    name: str = "adam",
    learning_rate: Any = 1e-3,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    rho: float = 0.95,
    ema_momentum: float | None = None,
):
    """A Keras optimizer by name; ``learning_rate`` may be a float or a schedule.

    ``ema_momentum`` (e.g. 0.99) keeps an exponential moving average of the weights (Polyak
    & Juditsky 1992) and puts it in place of the weights when training ends; the average
    spans about ``1 / (1 - ema_momentum)`` steps.
    """
    import keras

    if name not in OPTIMIZERS:
        raise unknown("optimizer", str(name), OPTIMIZERS)
    common: dict[str, Any] = {"learning_rate": learning_rate}
    if clipnorm:
        common["clipnorm"] = clipnorm
    if ema_momentum is not None:
        if not 0.0 < ema_momentum < 1.0:
            raise ConfigError(
                f"optimizer.ema_momentum must be between 0 and 1, not {ema_momentum}."
            )
        common.update(use_ema=True, ema_momentum=float(ema_momentum))
    if weight_decay and name != "adamw":
        common["weight_decay"] = weight_decay
    if name == "adam":
        return keras.optimizers.Adam(**common)
    if name == "adamw":
        return keras.optimizers.AdamW(weight_decay=weight_decay or 0.004, **common)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=momentum, nesterov=nesterov, **common)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**common)
    if name == "adadelta":
        return keras.optimizers.Adadelta(rho=rho, **common)
    if name == "adagrad":
        return keras.optimizers.Adagrad(**common)
    return keras.optimizers.Nadam(**common)


def make_metrics(names: Sequence[str], target: str) -> list:
    """Metric objects by name; 'auto' picks accuracy / binary accuracy / mae+rmse by target."""
    import keras

    if names == "auto" or list(names) == ["auto"]:
        names = {
            "sparse": ["accuracy"],
            "onehot": ["accuracy"],
            "multilabel": ["binary_accuracy"],
            "regression": ["mae", "rmse"],
        }[target]
    aliases = {
        "rmse": lambda: keras.metrics.RootMeanSquaredError(name="rmse"),
        "mae": lambda: keras.metrics.MeanAbsoluteError(name="mae"),
        "mse": lambda: keras.metrics.MeanSquaredError(name="mse"),
        "auc": lambda: keras.metrics.AUC(name="auc"),
        "top5": lambda: keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
    }
    return [aliases[n]() if n in aliases else n for n in names]


def resolve_loss(loss: str, target: str) -> str:
    """The loss name a run uses: ``loss``, or the default for ``target`` when 'auto'."""
    from zoo.training import losses

    name = losses.DEFAULT_FOR_TARGET.get(target, "mse") if loss == "auto" else loss
    if name not in losses.LOSSES:
        raise unknown("loss", name, losses.LOSSES)
    return name


def compile_model(
    net, settings, learning_rate: Any, loss_name: str, layer_rates: dict[str, float] | None = None
) -> Any:
    """Compile ``net`` with the optimizer, loss and metrics ``settings`` name. A GoogLeNet
    with auxiliary classifiers (outputs ``main``, ``aux1``, ``aux2``) gets a loss per output
    weighted as in the paper (0.3 for each auxiliary one) and metrics on ``main`` only.
    ``layer_rates`` (variable path -> multiplier) gives variables their own rates
    (:mod:`zoo.training.layer_rates`)."""
    from zoo.training import losses

    loss = losses.get(
        loss_name, from_logits=settings.from_logits, label_smoothing=settings.label_smoothing
    )
    metrics = make_metrics(settings.metrics, settings.target)
    extra: dict[str, Any] = {"loss": loss, "metrics": metrics}
    if isinstance(net.output, dict):
        from zoo.models.googlenet import AUX_LOSS_WEIGHTS

        extra = {
            "loss": {name: loss for name in AUX_LOSS_WEIGHTS},
            "loss_weights": dict(AUX_LOSS_WEIGHTS),
            "metrics": {"main": metrics},
        }
    optimizer = make_optimizer(name=settings.optimizer, learning_rate=learning_rate)
    if layer_rates:
        from zoo.training.layer_rates import with_layer_rates

        optimizer = with_layer_rates(optimizer, layer_rates)
    net.compile(optimizer=optimizer, jit_compile=settings.jit_compile, **extra)
    return net
