"""The one module that reaches into private names of gin, Keras and TensorFlow.

Each function here depends on something a dependency does not promise to keep. Each is
marked with the releases it was checked against (the pins of ``constraints.txt``), and
``tests/test_compat.py`` checks, on the installed versions, everything each one relies on:
a release that renames an attribute or changes its type fails there, in one place, with a
sentence that names the function, instead of silently somewhere in a run.

Like ``zoo.errors`` this module imports nothing from ``zoo`` and nothing heavy at import
time (Keras and TensorFlow only inside the functions that need them), so ``callbacks`` may
use it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

GIN = "gin-config"
KERAS = "keras"
TENSORFLOW = "tensorflow"


def checked(**versions: str) -> Callable:
    """Record the releases a function was checked against (keys are distribution names
    with ``_`` for ``-``); ``tests/test_compat.py`` holds them to ``constraints.txt``."""

    def mark(fn: Callable) -> Callable:
        fn.checked_against = {name.replace("_", "-"): v for name, v in versions.items()}
        return fn

    return mark


# ---- gin: the registry of configurables and the tables of bindings ------------------------


@checked(gin_config="0.5.0")
def gin_selectors() -> list[str]:
    """The full selector (``zoo.models.cnn``) of every registered gin configurable.

    gin 0.5.0 keeps them in ``gin.config._REGISTRY``, a ``SelectorMap`` of selector ->
    ``Configurable``; it has no public listing."""
    import gin

    return [selector for selector, _ in gin.config._REGISTRY.items()]


@checked(gin_config="0.5.0")
def gin_function(name: str) -> Callable | None:
    """The function or class registered as the gin configurable ``name`` (a full or partial
    selector), or None: what a binding of ``name`` reaches, for its signature and types.

    gin 0.5.0: ``gin.config._REGISTRY.get_match(name)`` returns a ``Configurable`` whose
    ``wrapped`` is the undecorated function."""
    import gin

    configurable = gin.config._REGISTRY.get_match(name)
    return None if configurable is None else configurable.wrapped


@checked(gin_config="0.5.0")
def gin_bindings() -> dict[tuple[str, str], dict[str, Any]]:
    """Every binding gin holds now, ``(scope, selector) -> {parameter: value}``, as parsed
    (references are not resolved). A copy: the caller may change it.

    gin 0.5.0 keeps them in the dict ``gin.config._CONFIG``; its public
    ``query_parameter`` answers one parameter at a time and only for names one knows."""
    import gin

    return {key: dict(values) for key, values in gin.config._CONFIG.items()}


@checked(gin_config="0.5.0")
def gin_operative_bindings() -> dict[tuple[str, str], dict[str, Any]]:
    """The values every configurable that has been called was called with,
    ``(scope, selector) -> {parameter: value}`` (what ``operative_config_str`` prints, as
    values). A copy: the caller may change it.

    gin 0.5.0 keeps them in the dict ``gin.config._OPERATIVE_CONFIG``."""
    import gin

    return {key: dict(values) for key, values in gin.config._OPERATIVE_CONFIG.items()}


# ---- Keras: optimizers and models -----------------------------------------------------------


@checked(keras="3.15.1")
def learning_rate_of(optimizer) -> Any:
    """The learning rate ``optimizer`` was given: a ``LearningRateSchedule`` itself, or the
    variable that holds a fixed rate; None for an optimizer that keeps none.

    The public ``optimizer.learning_rate`` evaluates a schedule at the current step, so the
    schedule object is only found in Keras 3.15's ``optimizer._learning_rate``."""
    return getattr(optimizer, "_learning_rate", None)


@checked(keras="3.15.1")
def optimizer_variable(optimizer, variable):
    """The Keras variable ``optimizer`` trains for ``variable``, which may be the backend's
    own variable (what ``update_step`` receives): the one that has a ``path``.

    Keras 3.15: ``optimizer._trainable_variables[optimizer._get_variable_index(variable)]``,
    filled by ``optimizer.build``."""
    return optimizer._trainable_variables[optimizer._get_variable_index(variable)]


@checked(keras="3.15.1")
def nested_layers(net) -> Iterator:
    """Every layer inside ``net``, at any depth (not ``net`` itself).

    ``net.layers`` lists only the top level; Keras 3.15's ``_flatten_layers`` walks them all."""
    return iter(net._flatten_layers(include_self=False, recursive=True))


@checked(keras="3.15.1", tensorflow="2.21.0")
def strategy_from_scope(net) -> None:
    """Make ``net`` take its distribution strategy from the scope it runs in instead of the
    one that was current when it was built or loaded.

    Keras 3.15's TensorFlow trainer stores ``tf.distribute.get_strategy()`` in
    ``net._distribute_strategy`` when the model is made; its ``distribute_strategy``
    property falls back to the current scope's strategy when that is None."""
    net._distribute_strategy = None


@checked(keras="3.15.1", tensorflow="2.21.0")
def average_multi_worker_logs() -> None:
    """Make Keras average each step's logs across workers with ``axis=None``.

    Keras 3.15 reduces a step's logs (scalars) with ``strategy.reduce("MEAN", v, axis=0)``,
    which fails on a scalar under ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585).
    The fix replaces ``reduce_per_replica`` of ``keras.src.backend.tensorflow.trainer``, which
    the trainer looks up at call time; other strategies and reductions go to the original,
    and the gradients are untouched (the strategy all-reduces them as before). Idempotent."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "zoo_fixed", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction not in ("auto", "mean") or not isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy
        ):
            return original(values, strategy, reduction)
        return tf.nest.map_structure(
            lambda v: (
                strategy.reduce("MEAN", v, axis=None)
                if tf.is_tensor(v) or isinstance(v, tf.distribute.DistributedValues)
                else v
            ),
            values,
        )

    reduce_per_replica.zoo_fixed = True
    trainer.reduce_per_replica = reduce_per_replica
