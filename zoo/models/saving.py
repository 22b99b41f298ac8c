"""One loader for every ``.keras`` file zoo writes: checkpoints, transfer sources, exports.

A ``.keras`` file names the classes of its layers, loss, metrics, optimizer and learning-rate
schedule; Keras finds a custom class only if the module that registers it was imported. Which
modules that are depends on what the process did before, so a fresh process could not load a
checkpoint that a schedule or a custom layer is part of. :func:`load_model` imports every
module that registers such a class first, whatever the file holds.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from zoo.errors import ConfigError

# every module that registers a class with keras.saving (tests/test_lifecycle.py checks that
# importing all of zoo and callbacks registers nothing this list does not)
REGISTERING_MODULES = (
    "callbacks.schedules",  # learning-rate schedules, kept in the optimizer
    "zoo.training.layer_rates",  # optimizers with layer-wise rates (a fine-tuning phase)
    "zoo.models.layers",  # LocalResponseNormalization, ImagePreprocess
    "zoo.models.text_layers",  # the text models' embedding and encoder layers
)


def register_custom_objects() -> None:
    """Import every module that registers zoo's custom classes with Keras, and zoo's losses
    (defined on first use)."""
    for name in REGISTERING_MODULES:
        importlib.import_module(name)
    from zoo.training import losses

    losses.get("nll")  # defines and registers RootMeanSquaredError and NegativeLogLikelihood


def load_model(path: str | os.PathLike, *, compile: bool = True, action: str = "load"):
    """The model in ``path``, loaded with every custom object zoo can put in it. A file Keras
    cannot read (truncated, foreign) is one sentence: ``Cannot <action> from <path>: ...``."""
    import keras

    register_custom_objects()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Cannot {action} from {path}: the file does not exist.")
    try:
        return keras.saving.load_model(path, compile=compile)
    except Exception as exc:
        raise ConfigError(
            f"Cannot {action} from {path}: the checkpoint is unreadable ({type(exc).__name__})."
        ) from None
