"""Datasets as train / validation / test tf.data pipelines plus metadata.

``zoo.datasets.load("fashion_mnist", batch_size=128)`` returns a :class:`Dataset`. The
validation split is carved from the training data with a seed; the test split is only used
for the final evaluation. Each loader is a gin configurable under its own name, e.g.
``fashion_mnist.validation_split = 0.1``.
"""

from __future__ import annotations

# the loaders register themselves when imported (numpy and gin only: no TensorFlow)
from zoo.datasets import images, text  # noqa: F401
from zoo.datasets.base import TARGETS, Dataset, from_arrays, make_targets
from zoo.datasets.registry import get_loader, list_datasets, load, register_dataset, supports_folds

__all__ = [
    "Dataset",
    "TARGETS",
    "from_arrays",
    "list_datasets",
    "get_loader",
    "supports_folds",
    "load",
    "make_targets",
    "register_dataset",
]
