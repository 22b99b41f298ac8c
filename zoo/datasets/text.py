"""Text datasets: sentences -> token ids with keras' ``TextVectorization``.

Vectorisation happens here, in the data pipeline, not inside the model: a model takes
integer token ids of shape ``(sequence_length,)`` (0 is padding, 1 is out-of-vocabulary),
saves to ``.keras`` without a vocabulary asset, and the vocabulary travels with the data in
``Dataset.extras["vocabulary"]``. The vectoriser is adapted on the training split only (never
on validation or test sentences), so no test word leaks into the vocabulary.

Loaders: ``mr`` (Pang & Lee 2005 sentence polarity, Latin-1 files, downloaded into keras'
cache when online), ``imdb`` (keras' download cache) and ``text_folder`` (one sub-folder per
class, one document per file).
``folds`` / ``fold`` select a stratified cross-validation fold as the test split.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.datasets.base import (
    TARGETS,
    Dataset,
    check_classes,
    make_targets,
    pipeline,
    split_validation,
    validation_count,
)
from zoo.datasets.images import keras_cache_dir
from zoo.datasets.registry import register_dataset
from zoo.errors import ConfigError, DataError

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", "kim", "none")
SPLITS = ("whitespace", "character")


def read_lines(path: str | os.PathLike, encoding: str = "latin-1") -> list[str]:
    """Non-empty lines of a text file, decoded with ``encoding`` (MR's files are Latin-1)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path} is not valid {encoding}: pass the file's encoding (MR is 'latin-1')."
        ) from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def kim_standardize(text):
    """Kim (2014)'s cleaning of MR sentences, on a string tensor.

    Lower-cases; keeps letters, digits, ``( ) , ! ?``, the apostrophe and the backtick (any
    other character becomes a space, so ``.``, ``"``, ``-`` and ``/`` go); splits the clitics
    ``'s 've n't 're 'd 'll`` off their word (``he's`` -> ``he 's``, ``don't`` -> ``do n't``);
    and spaces out ``( ) , ! ?``. The vocabulary is smaller than with ``lower``.
    """
    import tensorflow as tf

    text = tf.strings.lower(text)
    text = tf.strings.regex_replace(text, r"[^a-z0-9(),!?'`]", " ")
    text = tf.strings.regex_replace(text, r"('s|'ve|n't|'re|'d|'ll)", r" \1")
    text = tf.strings.regex_replace(text, r"([(),!?])", r" \1 ")
    text = tf.strings.regex_replace(text, r"\s+", " ")
    return tf.strings.strip(text)


def fold_indices(
    labels: Sequence[int], folds: int, fold: int, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices of ``fold`` (0-based) of a stratified, seeded ``folds``-way split.

    Each class is shuffled with ``seed`` and dealt round-robin into the folds, so every
    example is in exactly one test fold and class proportions match in every fold.
    """
    labels = np.asarray(labels)
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, not {folds}.")
    if not 0 <= fold < folds:
        raise ConfigError(f"fold must be between 0 and {folds - 1}, not {fold}.")
    if len(labels) < folds:
        raise ConfigError(f"{len(labels)} examples cannot be split into {folds} folds.")
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=int)
    offset = 0
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        assignment[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)
    return np.flatnonzero(assignment != fold), np.flatnonzero(assignment == fold)


def make_vectorizer(
    train_texts: Sequence[str],
    *,
    max_tokens: int | None = 20_000,
    sequence_length: int | None = None,
    standardize: str = "lower",
    split: str = "whitespace",
    ngrams: int | None = None,
):
    """A ``TextVectorization`` adapted on ``train_texts`` only.

    ``sequence_length=None`` pads to the longest training sentence (in tokens, n-grams
    included), as Kim (2014) pads to the longest sentence of the corpus.
    """
    import keras
    import tensorflow as tf

    if standardize not in STANDARDIZE:
        raise ConfigError(
            f"standardize must be one of {', '.join(STANDARDIZE)}, not {standardize!r}."
        )
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, not {split!r}.")
    if ngrams is not None and int(ngrams) < 1:
        raise ConfigError(f"ngrams must be None or at least 1, not {ngrams}.")
    options: dict[str, Any] = {
        "max_tokens": max_tokens,
        "standardize": {"none": None, "kim": kim_standardize}.get(standardize, standardize),
        "split": split,
        "ngrams": ngrams,
        "output_mode": "int",
    }
    if sequence_length is None:
        probe = keras.layers.TextVectorization(**options, ragged=True)
        probe.adapt(tf.constant(list(train_texts)))
        lengths = probe(tf.constant(list(train_texts))).row_lengths().numpy()
        sequence_length = max(int(lengths.max()) if len(lengths) else 1, 1)
    vectorizer = keras.layers.TextVectorization(
        **options, output_sequence_length=int(sequence_length)
    )
    vectorizer.adapt(tf.constant(list(train_texts)))
    return vectorizer


def text_dataset(
    name: str,
    texts: Sequence[str],
    labels: Sequence[int],
    test_texts: Sequence[str] | None,
    test_labels: Sequence[int] | None,
    *,
    class_names: Sequence[str],
    batch_size: int = 50,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 0.1,
    test_split: float = 0.1,
    folds: int | None = None,
    fold: int | None = None,
    max_tokens: int | None = 20_000,
    sequence_length: int | None = None,
    standardize: str = "lower",
    split: str = "whitespace",
    ngrams: int | None = None,
) -> Dataset:
    """Labelled sentences -> a :class:`Dataset` of token ids with the vocabulary in ``extras``.

    Without a test set: ``fold`` of ``folds`` (cross-validation) or a seeded stratified
    ``test_split`` becomes the test split. Validation is carved from what remains.
    """
    if target not in ("sparse", "onehot"):
        raise ConfigError(
            f"text datasets support target 'sparse' or 'onehot', not {target!r} "
            f"(one of {', '.join(TARGETS)})."
        )
    x = np.asarray(list(texts), dtype=object)
    y = np.asarray(list(labels), dtype="int64")
    check_classes(name, y, len(class_names), class_names)
    if test_texts is None:
        if folds:
            train_idx, test_idx = fold_indices(y, int(folds), int(fold or 0), seed)
        else:
            n_test = int(round(test_split * len(x)))
            train_idx, test_idx = split_indices(y, n_test, seed)
        x_test, y_test = x[test_idx], y[test_idx]
        x, y = x[train_idx], y[train_idx]
    else:
        if folds:
            raise ConfigError(f"dataset {name!r} has its own test set: do not set folds.")
        x_test = np.asarray(list(test_texts), dtype=object)
        y_test = np.asarray(list(test_labels), dtype="int64")
    x_tr, y_tr, x_val, y_val = split_validation(x, y, validation_split, seed)
    vectorizer = make_vectorizer(
        list(x_tr),
        max_tokens=max_tokens,
        sequence_length=sequence_length,
        standardize=standardize,
        split=split,
        ngrams=ngrams,
    )
    vocabulary = [str(t) for t in vectorizer.get_vocabulary()]
    num_classes = len(class_names)

    def ready(xs, ys, shuffle):
        if len(xs) == 0:
            return None
        ids = vectorizer(np.asarray(list(xs), dtype=str)).numpy().astype("int32")
        t = make_targets(ys, target, num_classes)
        return pipeline(ids, t, batch_size=batch_size, shuffle=shuffle, seed=seed, scale=None)

    seq_len = int(vectorizer.get_config()["output_sequence_length"])
    sizes = {"train": len(x_tr), "validation": len(x_val), "test": len(x_test)}
    return Dataset(
        name=name,
        train=ready(x_tr, y_tr, True),
        validation=ready(x_val, y_val, False),
        test=ready(x_test, y_test, False),
        input_shape=(seq_len,),
        target=target,
        num_classes=num_classes,
        class_names=list(class_names),
        output_names=list(class_names),
        sizes=sizes,
        input_dtype="int32",
        extras={
            "vocabulary": vocabulary,
            "vocabulary_size": len(vocabulary),
            "sequence_length": seq_len,
            "vectorizer_config": vectorizer.get_config(),
            "fold": fold if folds else None,
            "folds": folds,
            # what a text builder needs from the data (see zoo.training.setup.build_model)
            "model_kwargs": {"vocabulary_size": len(vocabulary), "vocabulary": vocabulary},
        },
    )


def split_indices(labels: np.ndarray, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified train / test indices with about ``n_test`` test examples."""
    if n_test <= 0:
        raise ConfigError("test_split must leave at least one test example.")
    rng = np.random.default_rng(seed + 1)
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        take = int(round(n_test * len(idx) / len(labels)))
        test.append(rng.choice(idx, size=min(max(take, 1), len(idx) - 1), replace=False))
    test_idx = np.sort(np.concatenate(test))
    mask = np.ones(len(labels), dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
MR_FILES = ("rt-polarity.neg", "rt-polarity.pos")


def mr_dirs(directory: str | None = None) -> list[Path]:
    """Where MR is looked for: ``directory`` alone if given; else ``$ZOO_DATA_DIR/mr`` and
    keras' cache (where :func:`find_mr` downloads Pang & Lee's archive)."""
    if directory:
        return [Path(os.path.expandvars(os.path.expanduser(directory)))]
    dirs = [Path(os.environ["ZOO_DATA_DIR"]) / "mr"] if os.environ.get("ZOO_DATA_DIR") else []
    cache = keras_cache_dir()
    return [
        *dirs,
        cache / "rt-polaritydata_extracted" / "rt-polaritydata",
        cache / "rt-polaritydata",
    ]


def _download_mr() -> list[Path]:
    import keras

    extracted = keras.utils.get_file(
        "rt-polaritydata.tar.gz",
        MR_URL,
        extract=True,
        cache_dir=str(keras_cache_dir().parent),
        cache_subdir="datasets",
    )
    return [Path(extracted) / "rt-polaritydata", Path(extracted)]


def find_mr(directory: str | None = None, download: bool = True) -> Path:
    """The folder holding ``rt-polarity.neg`` and ``.pos``; downloads into keras' cache when
    no folder was named, none holds them and ``download`` is on."""
    dirs = mr_dirs(directory)
    for d in dirs:
        if all((d / f).is_file() for f in MR_FILES):
            return d
    if directory is not None:
        reason = "mr.directory names the only place to look"
    elif not download:
        reason = "download disabled"
    else:
        try:
            found = [d for d in _download_mr() if all((d / f).is_file() for f in MR_FILES)]
            if found:
                return found[0]
            reason = "the downloaded archive holds no rt-polarity.neg/.pos"
        except Exception as exc:  # offline, proxy, partial file...
            reason = f"download failed: {type(exc).__name__}"
    places = ", ".join(str(d) for d in dirs)
    raise DataError(
        f"MR data not found (looked in {places}; {reason}): run once online to download "
        f"Pang & Lee's rt-polaritydata.tar.gz into keras' cache, or set mr.directory = "
        "'<folder with rt-polarity.pos and rt-polarity.neg>' or ZOO_DATA_DIR."
    )


@register_dataset("mr")
def mr(
    batch_size: int = 50,
    target: str = "sparse",
    seed: int = 42,
    directory: str | None = None,
    encoding: str = "latin-1",
    validation_split: float | int = 0.1,
    test_split: float = 0.1,
    folds: int | None = None,
    fold: int | None = None,
    max_tokens: int | None = 20_000,
    sequence_length: int | None = None,
    standardize: str = "lower",
    split: str = "whitespace",
    ngrams: int | None = None,
    download: bool = True,
) -> Dataset:
    """Movie Review sentence polarity (Pang & Lee 2005): 5,331 positive, 5,331 negative.

    ``directory`` holds ``rt-polarity.pos`` and ``rt-polarity.neg``; without one, MR is
    looked for in ``$ZOO_DATA_DIR/mr`` and keras' cache, and downloaded there (Pang & Lee's
    ``rt-polaritydata.tar.gz``, as keras fetches its own datasets) when online. The standard
    protocol is 10-fold cross-validation (``zoo train mr_kim_cnn --folds 10``).
    """
    folder = find_mr(directory, download)
    neg, pos = (read_lines(folder / f, encoding) for f in MR_FILES)
    return text_dataset(
        "mr",
        neg + pos,
        [0] * len(neg) + [1] * len(pos),
        None,
        None,
        class_names=["negative", "positive"],
        batch_size=batch_size,
        target=target,
        seed=seed,
        validation_split=validation_split,
        test_split=test_split,
        folds=folds,
        fold=fold,
        max_tokens=max_tokens,
        sequence_length=sequence_length,
        standardize=standardize,
        split=split,
        ngrams=ngrams,
    )


@register_dataset("text_folder")
def text_folder(
    directory: str | None = None,
    batch_size: int = 50,
    target: str = "sparse",
    seed: int = 42,
    encoding: str = "utf-8",
    validation_split: float | int = 0.1,
    test_split: float = 0.1,
    test_directory: str | None = None,
    folds: int | None = None,
    fold: int | None = None,
    max_tokens: int | None = 20_000,
    sequence_length: int | None = None,
    standardize: str = "lower_and_strip_punctuation",
    split: str = "whitespace",
    ngrams: int | None = None,
) -> Dataset:
    """Documents in ``directory/<class>/*``: one sub-folder per class, one document per file.

    Classes are the sub-folder names in sorted order. ``test_directory`` (same layout) is the
    test split when given; otherwise a fold or ``test_split`` of ``directory`` is.
    """
    if not directory:
        raise ConfigError("text_folder needs text_folder.directory = '<folder of class folders>'.")
    root = Path(os.path.expanduser(directory))
    texts, labels, classes = _read_folder(root, encoding)
    test_texts = test_labels = None
    if test_directory:
        test_texts, test_labels, test_classes = _read_folder(
            Path(os.path.expanduser(test_directory)), encoding
        )
        if test_classes != classes:
            raise DataError(
                f"{test_directory} has classes {test_classes}, {directory} has {classes}: "
                "both need the same sub-folders."
            )
    return text_dataset(
        root.name,
        texts,
        labels,
        test_texts,
        test_labels,
        class_names=classes,
        batch_size=batch_size,
        target=target,
        seed=seed,
        validation_split=validation_split,
        test_split=test_split,
        folds=folds,
        fold=fold,
        max_tokens=max_tokens,
        sequence_length=sequence_length,
        standardize=standardize,
        split=split,
        ngrams=ngrams,
    )


def _read_folder(root: Path, encoding: str) -> tuple[list[str], list[int], list[str]]:
    if not root.is_dir():
        raise DataError(f"{root} is not a folder: point text_folder.directory at one.")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DataError(f"{root} needs at least two class sub-folders, found {len(classes)}.")
    texts: list[str] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.is_file() and not f.name.startswith("."):
                try:
                    texts.append(f.read_text(encoding=encoding).strip())
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{f} is not valid {encoding}: set text_folder.encoding."
                    ) from exc
                labels.append(label)
    return texts, labels, classes


@register_dataset("imdb")
def imdb(
    batch_size: int = 50,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 0.1,
    max_tokens: int | None = 20_000,
    sequence_length: int = 256,
    train_size: int | None = None,
) -> Dataset:
    """IMDB reviews (Maas et al. 2011) from keras' cache (``~/.keras/datasets/imdb.npz``).

    keras ships them already as word indices; they are decoded back to words with keras'
    word index and vectorised like any other text dataset. Needs the two cached downloads.
    """
    import keras

    try:
        (xa, ya), (xb, yb) = keras.datasets.imdb.load_data()
        index = keras.datasets.imdb.get_word_index()
    except Exception as exc:
        raise DataError(
            "IMDB is not in keras' cache and could not be downloaded (offline?): run "
            "keras.datasets.imdb.load_data() once with network access, or use text_folder "
            f"on the aclImdb folders ({type(exc).__name__})."
        ) from None
    words = {i + 3: w for w, i in index.items()}

    def decode(seqs):
        return [" ".join(words.get(i, "") for i in s[1:]) for s in seqs]

    if train_size is not None:  # train_size training examples after the validation split
        used = min(train_size + validation_count(validation_split, len(xa), train_size), len(xa))
        keep = np.random.default_rng(seed).choice(len(xa), size=used, replace=False)
        xa, ya = xa[keep], ya[keep]
    return text_dataset(
        "imdb",
        decode(xa),
        ya,
        decode(xb),
        yb,
        class_names=["negative", "positive"],
        batch_size=batch_size,
        target=target,
        seed=seed,
        validation_split=validation_split,
        max_tokens=max_tokens,
        sequence_length=sequence_length,
        standardize="lower_and_strip_punctuation",
    )
