"""Transfer learning: reuse a trained network, freeze it, give it a new head, fine-tune it.

The usual recipe (Yosinski et al. 2014, "How transferable are features in deep neural
networks?"; the Keras transfer-learning guide):

1. take a network trained on a related task (``load_base``: a ``.keras`` file or a run dir),
2. cut its head off and ``extend`` it with a new head for the new classes,
3. ``freeze`` the base and train the head only (a few epochs, normal learning rate),
4. ``unfreeze`` the top of the base and fine-tune everything with a learning rate ~10x lower.

Batch-norm layers stay frozen during fine-tuning (their statistics came from the source
data; updating them from small new batches destroys what was learned).

From a recipe: ``train.init_from = 'runs/x/y'`` plus ``transfer.*`` bindings (see
``recipes/digits_transfer.gin``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import gin

from zoo.errors import ConfigError

HEAD_LAYERS = ("predictions", "log_probs")


def load_base(source: str | Path, which: str = "best"):
    """A trained model from a ``.keras`` file or a run directory (``checkpoints/<which>.keras``)."""
    import keras

    path = Path(source)
    if path.is_dir():
        path = path / "checkpoints" / f"{which}.keras"
    if not path.is_file():
        raise ConfigError(
            f"No trained model at {path}: give a .keras file or a run directory with checkpoints/."
        )
    return keras.saving.load_model(path, compile=False)


def _layer_index(model, name: str) -> int:
    names = [layer.name for layer in model.layers]
    if name not in names:
        close = [n for n in names if name in n][:5]
        hint = f" (layers containing it: {', '.join(close)})" if close else ""
        raise ConfigError(f"Model {model.name!r} has no layer {name!r}{hint}.")
    return names.index(name)


def feature_layer(model) -> str:
    """The last layer before the classifier head (what ``extend`` keeps by default)."""
    names = [layer.name for layer in model.layers]
    for head in HEAD_LAYERS:
        if head in names:
            i = names.index(head)
            # skip the head's own dropout, if any
            while i > 0 and model.layers[i - 1].__class__.__name__ == "Dropout":
                i -= 1
            return names[i - 1]
    return names[-1]


def freeze(model, up_to: str | None = None, pattern: str | None = None):
    """Freeze every layer (default), the layers up to and including ``up_to``, or those
    whose names match ``pattern`` (shell-style, e.g. ``'block1_*'``). Returns the model."""
    chosen = _select(model, up_to, pattern)
    for layer in chosen:
        layer.trainable = False
    return model


def unfreeze(
    model, from_layer: str | None = None, pattern: str | None = None, keep_bn_frozen: bool = True
):
    """Make layers trainable again: all, those from ``from_layer`` on, or those matching
    ``pattern``. Batch-norm layers stay frozen unless ``keep_bn_frozen`` is False."""
    if from_layer is not None:
        start = _layer_index(model, from_layer)
        chosen = model.layers[start:]
    else:
        chosen = _select(model, None, pattern)
    for layer in chosen:
        if keep_bn_frozen and layer.__class__.__name__ == "BatchNormalization":
            continue
        layer.trainable = True
    return model


def _select(model, up_to: str | None, pattern: str | None) -> list:
    if up_to is not None and pattern is not None:
        raise ConfigError("Give either up_to or pattern, not both.")
    if up_to is not None:
        return model.layers[: _layer_index(model, up_to) + 1]
    if pattern is not None:
        chosen = [layer for layer in model.layers if fnmatch.fnmatchcase(layer.name, pattern)]
        if not chosen:
            raise ConfigError(f"No layer of {model.name!r} matches {pattern!r}.")
        return chosen
    return list(model.layers)


def extend(
    base,
    classes: int,
    *,
    cut_at: str | None = None,
    hidden_units: Sequence[int] = (),
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    name: str | None = None,
):
    """``base`` up to ``cut_at`` (default: just before its head) + a new head for ``classes``.

    The new head is global average pooling (for 4D features), optional dense layers with
    dropout, and a ``predictions`` layer; its layers are named ``transfer_*``.
    """
    import keras
    from keras import layers

    cut = cut_at or feature_layer(base)
    x = base.layers[_layer_index(base, cut)].output
    if len(x.shape) == 4:
        x = layers.GlobalAveragePooling2D(name="transfer_pool")(x)
    elif len(x.shape) == 3:
        x = layers.GlobalAveragePooling1D(name="transfer_pool")(x)
    for k, units in enumerate(hidden_units, start=1):
        x = layers.Dense(units, activation="relu", name=f"transfer_fc{k}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"transfer_fc{k}_dropout")(x)
    if dropout and not hidden_units:
        x = layers.Dropout(dropout, name="transfer_dropout")(x)
    outputs = layers.Dense(
        classes, activation=classifier_activation, dtype="float32", name="predictions"
    )(x)
    return keras.Model(base.inputs, outputs, name=name or f"{base.name}_transfer")


def trainable_report(model) -> str:
    """One line: how many parameters are trainable now (useful before and after freezing)."""
    from zoo.stats import count_params

    trainable, frozen = count_params(model)
    return f"{trainable:,} trainable / {frozen:,} frozen parameters"


@gin.configurable("transfer", module="zoo")
def transfer_settings(
    which: str = "best",
    cut_at: str | None = None,
    freeze_up_to: str | None = "all",
    hidden_units: Sequence[int] = (),
    dropout: float = 0.0,
    fine_tune_epochs: int = 0,
    fine_tune_from: str | None = None,
    fine_tune_learning_rate: float = 1e-4,
) -> dict:
    """The ``transfer.*`` gin parameters used by ``train.init_from``.

    ``freeze_up_to``: 'all' (the whole base), a layer name, or None (train everything).
    ``fine_tune_epochs`` > 0 adds a second phase that unfreezes the base from
    ``fine_tune_from`` (default: all of it) and trains at ``fine_tune_learning_rate``.
    """
    return {
        "which": which,
        "cut_at": cut_at,
        "freeze_up_to": freeze_up_to,
        "hidden_units": list(hidden_units),
        "dropout": dropout,
        "fine_tune_epochs": int(fine_tune_epochs),
        "fine_tune_from": fine_tune_from,
        "fine_tune_learning_rate": fine_tune_learning_rate,
    }


def prepare(source: str | Path, classes: int, classifier_activation: str | None, settings: dict):
    """Load ``source``, cut and extend it for ``classes``, freeze as ``settings`` says."""
    base = load_base(source, settings["which"])
    model = extend(
        base,
        classes,
        cut_at=settings["cut_at"],
        hidden_units=settings["hidden_units"],
        dropout=settings["dropout"],
        classifier_activation=classifier_activation,
    )
    up_to = settings["freeze_up_to"]
    if up_to == "all":
        freeze(model, up_to=settings["cut_at"] or feature_layer(base))
    elif up_to:
        freeze(model, up_to=up_to)
    return model
