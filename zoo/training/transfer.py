"""Transfer learning: reuse a trained network, freeze it, give it a new head, fine-tune it.

The usual recipe (Yosinski et al. 2014, "How transferable are features in deep neural
networks?"; the Keras transfer-learning guide):

1. take a network trained on a related task (``load_base``: a ``.keras`` file or a run dir;
   or a keras.applications model with ImageNet weights, :mod:`zoo.models.applications`),
2. cut its head off and ``extend`` it with a new head for the new classes,
3. ``freeze`` the base and train the head only (a few epochs, normal learning rate),
4. ``unfreeze`` the top of the base and fine-tune everything with a learning rate ~10x lower.

Batch-norm layers stay frozen, in inference mode, in both phases unless
``transfer.bn_trainable`` (their statistics came from the source data; updating them from
small new batches destroys what was learned). Fine-tuning can unfreeze named stages only
(``unfreeze_stages``), warm up (``fine_tune_warmup_epochs``) and give earlier stages lower
rates (``layer_decay``; Howard & Ruder 2018, :mod:`zoo.training.layer_rates`).

From a recipe: ``train.init_from = 'runs/x/y'`` plus ``transfer.*`` bindings (see
``recipes/transfer_fashion.gin`` and ``recipes/digits_transfer.gin``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gin

from zoo.errors import ConfigError

HEAD_LAYERS = ("predictions", "log_probs")


def load_base(source: str | Path, which: str = "best"):
    """A trained model from a ``.keras`` file or a run directory (``checkpoints/<which>.keras``)."""
    path = Path(source)
    if path.is_dir():
        from zoo.tracking.rundir import RunDir

        path = RunDir(path).checkpoint(which)
    if not path.is_file():
        raise ConfigError(
            f"No trained model at {path}: give a .keras file or a run directory with checkpoints/."
        )
    from zoo.models.saving import load_model

    return load_model(path, compile=False)


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
    from zoo.models.stats import count_params

    trainable, frozen = count_params(model)
    return f"{trainable:,} trainable / {frozen:,} frozen parameters"


def stage_of(layer_name: str) -> str:
    """A layer's stage: its name up to the first underscore (``block2_conv1`` -> ``block2``,
    ``conv4_block3_out`` -> ``conv4``, ``fc1`` -> ``fc1``), the zoo's and keras.applications'
    deterministic naming."""
    return layer_name.split("_", 1)[0]


def is_head(layer) -> bool:
    """A layer of the head :func:`extend` added."""
    return layer.name.startswith("transfer_") or layer.name in HEAD_LAYERS


def base_stages(model) -> list[str]:
    """The stages of the base (not the new head) that hold weights, input side first."""
    stages = [
        stage_of(layer.name) for layer in model.layers if layer.weights and not is_head(layer)
    ]
    return list(dict.fromkeys(stages))


def unfreeze_stages(model, stages: Sequence[str], keep_bn_frozen: bool = True):
    """Unfreeze the layers of the named stages (``['conv4', 'conv5']``); an entry with a
    wildcard is a shell pattern on layer names (``'block2_conv*'``)."""
    known = base_stages(model)
    chosen = []
    for entry in stages:
        if any(c in entry for c in "*?["):
            matched = [lyr for lyr in model.layers if fnmatch.fnmatchcase(lyr.name, entry)]
        else:
            matched = [lyr for lyr in model.layers if stage_of(lyr.name) == entry]
        if not matched:
            raise ConfigError(
                f"transfer.unfreeze_stages: {model.name!r} has no stage or layer {entry!r} "
                f"(its stages: {', '.join(known)})."
            )
        chosen += matched
    for layer in chosen:
        if keep_bn_frozen and layer.__class__.__name__ == "BatchNormalization":
            continue
        layer.trainable = True
    return model


def layer_rates(model, decay: float) -> dict[str, float]:
    """Rate multipliers by variable path: 1 for the head, ``decay`` for the base's last
    stage, ``decay**2`` for the one before, and so on (Howard & Ruder 2018, section 3.2;
    timm's ``layer_decay``)."""
    stages = base_stages(model)
    depth = {stage: len(stages) - i for i, stage in enumerate(stages)}
    rates = {}
    for layer in model.layers:
        if is_head(layer):
            continue
        power = depth.get(stage_of(layer.name))
        for variable in layer.weights if power else ():
            rates[variable.path] = float(decay**power)
    return rates


def set_bn_trainable(model, trainable: bool) -> None:
    """Batch-norm layers of the base train (batch statistics, moving averages updated) or
    stay in inference mode (Keras 3 runs a layer with ``trainable=False`` in inference mode)."""
    for layer in model.layers:
        if layer.__class__.__name__ == "BatchNormalization" and not is_head(layer):
            layer.trainable = trainable


@gin.configurable("transfer", module="zoo")
@dataclass
class TransferSettings:
    """``transfer.*``: how ``train.init_from`` is cut, extended, frozen and fine-tuned.

    ``freeze_up_to``: 'all' (the whole base), a layer name, or None (train everything).
    ``fine_tune_epochs`` > 0 adds a second phase that unfreezes the base from
    ``fine_tune_from`` (default: all of it), or only the stages in ``unfreeze_stages``, and
    trains at ``fine_tune_learning_rate``, reached by a linear warm-up over
    ``fine_tune_warmup_epochs``; ``layer_decay`` < 1 gives each earlier stage of the base that
    factor of the next one's rate. ``bn_trainable`` lets the base's batch-norm layers train in
    both phases (default: inference mode, the source's statistics). ``weights`` and
    ``image_size`` apply to a ``keras.applications.*`` or ``imagenet:<zoo model>`` source.
    """

    which: str = "best"
    cut_at: str | None = None
    freeze_up_to: str | None = "all"
    hidden_units: Sequence[int] = ()
    dropout: float = 0.0
    fine_tune_epochs: int = 0
    fine_tune_from: str | None = None
    fine_tune_learning_rate: float = 1e-4
    fine_tune_warmup_epochs: int = 0
    unfreeze_stages: Sequence[str] | None = None
    layer_decay: float = 1.0
    bn_trainable: bool = False
    weights: str | None = "imagenet"
    image_size: int | None = None

    def __post_init__(self) -> None:
        self.hidden_units = tuple(self.hidden_units)
        self.fine_tune_epochs = int(self.fine_tune_epochs)
        self.fine_tune_warmup_epochs = int(self.fine_tune_warmup_epochs)
        if self.unfreeze_stages is not None:
            self.unfreeze_stages = tuple(self.unfreeze_stages)
        self.layer_decay = float(self.layer_decay)
        self.bn_trainable = bool(self.bn_trainable)
        _check_settings(self)


def _check_settings(s: TransferSettings) -> None:
    fine = s.fine_tune_epochs
    if fine < 0 or not 0 <= s.fine_tune_warmup_epochs <= max(fine, 0):
        raise ConfigError(
            f"transfer.fine_tune_warmup_epochs ({s.fine_tune_warmup_epochs}) must lie between "
            f"0 and transfer.fine_tune_epochs ({fine})."
        )
    if not 0.0 < s.layer_decay <= 1.0:
        raise ConfigError(f"transfer.layer_decay must be in (0, 1], not {s.layer_decay}.")
    if s.unfreeze_stages is not None and s.fine_tune_from is not None:
        raise ConfigError("Give transfer.fine_tune_from or transfer.unfreeze_stages, not both.")
    phase_two = [
        name
        for name, unset in (("layer_decay", 1.0), ("unfreeze_stages", None))
        if getattr(s, name) != unset
    ]
    if phase_two and fine == 0:
        raise ConfigError(
            f"transfer.{phase_two[0]} applies to the fine-tuning phase: "
            "set transfer.fine_tune_epochs > 0."
        )
    if s.weights not in ("imagenet", None):
        raise ConfigError(f"transfer.weights must be 'imagenet' or None, not {s.weights!r}.")
    size = s.image_size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 32):
        raise ConfigError(f"transfer.image_size must be None or an integer >= 32, not {size!r}.")


def prepare(
    source: str | Path,
    classes: int,
    classifier_activation: str | None,
    settings: TransferSettings,
    input_shape: Sequence[int] | None = None,
):
    """Load ``source`` (a run, a ``.keras`` file or ``keras.applications.<Name>``), cut and
    extend it for ``classes``, freeze as ``settings`` say."""
    from zoo.models import applications as pretrained
    from zoo.models import imagenet

    if imagenet.is_imagenet_source(str(source)):
        if input_shape is None:
            raise ConfigError(f"{source} needs the data's input shape.")
        base = imagenet.imagenet_base(
            str(source), input_shape, settings.weights, settings.image_size
        )
    elif pretrained.is_application(str(source)):
        if input_shape is None:
            raise ConfigError(f"{source} needs the data's input shape.")
        base = pretrained.application_base(
            str(source), input_shape, settings.weights, settings.image_size
        )
    else:
        base = load_base(source, settings.which)
    model = extend(
        base,
        classes,
        cut_at=settings.cut_at,
        hidden_units=settings.hidden_units,
        dropout=settings.dropout,
        classifier_activation=classifier_activation,
    )
    up_to = settings.freeze_up_to
    if up_to == "all":
        freeze(model, up_to=settings.cut_at or feature_layer(base))
    elif up_to:
        freeze(model, up_to=up_to)
    if settings.bn_trainable:
        set_bn_trainable(model, True)
    return model


def unfreeze_for_fine_tuning(model, settings: TransferSettings):
    """Phase 2: unfreeze what ``settings`` say; batch norm stays as ``bn_trainable`` says."""
    keep_bn = not settings.bn_trainable
    if settings.unfreeze_stages is not None:
        return unfreeze_stages(model, settings.unfreeze_stages, keep_bn_frozen=keep_bn)
    return unfreeze(model, from_layer=settings.fine_tune_from, keep_bn_frozen=keep_bn)
