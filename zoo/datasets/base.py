"""The Dataset container and the array -> tf.data pipeline shared by the loaders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoo.errors import ConfigError, DataError

TARGETS = ("sparse", "onehot", "multilabel", "regression")


@dataclass
class Dataset:
    """Train / validation / test pipelines (batched tf.data) and what a model needs to know."""

    name: str
    train: Any
    validation: Any
    test: Any
    input_shape: tuple
    target: str = "sparse"
    num_classes: int | None = None
    class_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    input_dtype: str = "float32"
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def num_outputs(self) -> int:
        """Units of the output layer: classes, attributes (multi-label) or 1 (regression)."""
        if self.target == "multilabel":
            return len(self.output_names)
        if self.target == "regression":
            return 1
        return int(self.num_classes)

    def describe(self) -> str:
        """One line per split with shapes, for the progress display."""
        lines = [f"dataset {self.name}: target '{self.target}', input shape {self.input_shape}"]
        for split in ("train", "validation", "test"):
            if split in self.sizes:
                lines.append(f"  {split:<10} {self.sizes[split]:>7} examples")
        return "\n".join(lines)


def make_targets(
    labels: np.ndarray,
    target: str,
    num_classes: int,
    attributes: dict[str, Sequence[int]] | None = None,
    values: Sequence[float] | None = None,
) -> np.ndarray:
    """Class indices -> targets of the chosen kind.

    sparse: int labels; onehot: one-hot rows; multilabel: one 0/1 column per attribute (an
    attribute is a set of classes); regression: ``values[label]`` (default: the label itself).
    """
    labels = np.asarray(labels).astype("int64")
    if target == "sparse":
        return labels.astype("int32")
    if target == "onehot":
        return np.eye(num_classes, dtype="float32")[labels]
    if target == "multilabel":
        if not attributes:
            raise ConfigError("target 'multilabel' needs a dataset that defines attributes.")
        table = np.zeros((num_classes, len(attributes)), dtype="float32")
        for j, members in enumerate(attributes.values()):
            table[list(members), j] = 1.0
        return table[labels]
    if target == "regression":
        table = np.asarray(values if values is not None else range(num_classes), dtype="float32")
        return table[labels][:, None]
    raise ConfigError(f"target must be one of {', '.join(TARGETS)}, not {target!r}.")


def split_validation(x, y, validation_split: float | int, seed: int, stratify: bool = True):
    """Carve a seeded (stratified) validation split from the training arrays."""
    n = len(x)
    n_val = validation_count(validation_split, n)
    if n_val <= 0:
        return x, y, x[:0], y[:0]
    if n_val >= n:
        raise ConfigError(
            f"validation_split {validation_split} leaves no training examples out of {n}."
        )
    rng = np.random.default_rng(seed)
    if stratify:
        val_idx = []
        classes, counts = np.unique(y, return_counts=True)
        for c, count in zip(classes, counts, strict=True):
            idx = np.flatnonzero(y == c)
            take = int(round(n_val * count / n))
            val_idx.append(rng.choice(idx, size=min(take, len(idx) - 1), replace=False))
        val = np.sort(np.concatenate(val_idx))
    else:
        val = np.sort(rng.choice(n, size=n_val, replace=False))
    mask = np.ones(n, dtype=bool)
    mask[val] = False
    return x[mask], y[mask], x[val], y[val]


def validation_count(validation_split: float | int, n: int, train_size: int | None = None) -> int:
    """How many examples the validation split takes: ``validation_split`` itself when it is a
    count (>= 1); as a fraction, of all ``n`` examples, or, with ``train_size``, of the
    examples used (``train_size`` training + validation; never more than of all ``n``), so
    that training keeps ``train_size``."""
    if validation_split >= 1:
        return int(validation_split)
    of_all = int(round(validation_split * n))
    if train_size is None:
        return of_all
    return min(of_all, int(round(validation_split / (1 - validation_split) * train_size)))


def train_and_validation(x, y, validation_split: float | int, train_size: int | None, seed: int):
    """The training and validation arrays: ``train_size`` is the number of *training*
    examples, after the validation split (all that remain when fewer do).

    The validation split is carved (seeded, stratified) from all the training data first;
    ``train_size`` examples are then drawn from the rest. Fashion-MNIST's
    ``train_size = 10000`` with ``validation_split = 5000`` trains on 10,000 and validates
    on 5,000.
    """
    if train_size is not None and train_size < 1:
        raise ConfigError(f"train_size must be at least 1 (None: all), not {train_size}.")
    n_val = validation_count(validation_split, len(x), train_size)
    x_rest, y_rest, x_val, y_val = split_validation(x, y, n_val, seed)
    x_tr, y_tr = subsample(x_rest, y_rest, train_size, seed)
    return x_tr, y_tr, x_val, y_val


def subsample(x, y, size: int | None, seed: int):
    """A seeded random subset of ``size`` examples (all when ``size`` is None)."""
    if size is None or size >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=size, replace=False))
    return x[idx], y[idx]


def pipeline(x, y, *, batch_size: int, shuffle: bool, seed: int, scale: float | None):
    """Arrays -> cached, (shuffled), batched, scaled, prefetched tf.data pipeline."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        ds = ds.shuffle(min(len(x), 60_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if scale is not None:
        ds = ds.map(
            lambda a, b: (tf.cast(a, tf.float32) * scale, b), num_parallel_calls=tf.data.AUTOTUNE
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def check_classes(name: str, labels, num_classes: int, class_names: Sequence[str] = ()) -> None:
    """A classifier needs two classes or more, each with training examples: say so before
    training, not with an accuracy of 0 (one class under softmax) or a unit never trained."""
    names = list(class_names) or [str(c) for c in range(num_classes)]
    if num_classes < 2:
        which = f" ({names[0]!r})" if names else ""
        raise DataError(
            f"{name} has {num_classes} class{which}: a classifier needs at least two, each "
            "with its own examples (a folder per class for folder datasets)."
        )
    present = set(np.unique(np.asarray(labels)).tolist())
    empty = [names[c] for c in range(num_classes) if c not in present]
    if empty:
        listed = ", ".join(repr(n) for n in empty[:5]) + (", ..." if len(empty) > 5 else "")
        raise DataError(
            f"{name}: class {listed} has no training examples (an empty class folder?): add "
            "examples or remove the class."
        )


def select_classes(
    name, classes, num_classes, class_names, target, x_train, y_train, x_test, y_test
):
    """Keep the examples of ``classes`` only and relabel them 0..k-1 in the order given."""
    if target not in ("sparse", "onehot"):
        raise ConfigError(f"{name}.classes works with target 'sparse' or 'onehot', not {target!r}.")
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or not classes:
        raise ConfigError(f"{name}.classes must list distinct class indices, got {classes}.")
    if len(classes) < 2:
        raise ConfigError(
            f"{name}.classes = {classes} keeps one class: a classifier needs at least two."
        )
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ConfigError(
            f"{name}.classes {bad} out of range: the classes are 0..{num_classes - 1}."
        )
    remap = np.full(num_classes, -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))

    def keep(x, y):
        if x is None:
            return None, None
        mask = np.isin(y, classes)
        return x[mask], remap[np.asarray(y)[mask]]

    x_train, y_train = keep(x_train, y_train)
    x_test, y_test = keep(x_test, y_test)
    names = [class_names[c] for c in classes] if class_names else [str(c) for c in classes]
    return x_train, y_train, x_test, y_test, names


def from_arrays(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray | None,
    y_test: np.ndarray | None,
    *,
    num_classes: int,
    class_names: Sequence[str] = (),
    batch_size: int = 128,
    target: str = "sparse",
    validation_split: float | int = 0.1,
    train_size: int | None = None,
    seed: int = 42,
    scale: float | None = 1 / 255,
    attributes: dict[str, Sequence[int]] | None = None,
    values: Sequence[float] | None = None,
    classes: Sequence[int] | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from class-labelled arrays (labels are class indices).

    ``train_size`` is the number of training examples after the validation split
    (:func:`train_and_validation`).

    ``classes`` keeps only those classes, relabelled 0..k-1 in the order given (e.g. to
    pre-train on some classes and transfer to the others).
    """
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {', '.join(TARGETS)}, not {target!r}.")
    if classes is not None:
        x_train, y_train, x_test, y_test, class_names = select_classes(
            name, classes, num_classes, class_names, target, x_train, y_train, x_test, y_test
        )
        num_classes = len(classes)
    if target == "multilabel" and not attributes:
        raise ConfigError(
            f"dataset {name!r} defines no attributes, so target 'multilabel' is not available."
        )
    x_tr, y_tr, x_val, y_val = train_and_validation(
        x_train, y_train, validation_split, train_size, seed
    )

    def ready(x, y, shuffle):
        if x is None or len(x) == 0:
            return None
        t = make_targets(y, target, num_classes, attributes, values)
        return pipeline(x, t, batch_size=batch_size, shuffle=shuffle, seed=seed, scale=scale)

    sizes = {"train": len(x_tr), "validation": len(x_val)}
    if x_test is not None:
        sizes["test"] = len(x_test)
    output_names = list(attributes) if target == "multilabel" else list(class_names)
    return Dataset(
        name=name,
        train=ready(x_tr, y_tr, True),
        validation=ready(x_val, y_val, False),
        test=ready(x_test, y_test, False) if x_test is not None else None,
        input_shape=tuple(int(d) for d in x_tr.shape[1:]),
        target=target,
        num_classes=num_classes,
        class_names=list(class_names),
        output_names=output_names,
        sizes=sizes,
    )
