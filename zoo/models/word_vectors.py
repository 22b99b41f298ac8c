"""Pretrained word vectors (word2vec or GloVe) -> an embedding matrix for a vocabulary."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError, DataError


@dataclass
class Vectors:
    """An embedding matrix aligned with a vocabulary, and how much of it was pretrained."""

    matrix: np.ndarray
    found: int
    searched: int
    scale: float

    @property
    def coverage(self) -> float:
        """Share of the vocabulary (padding and OOV tokens excluded) with a pretrained vector."""
        return self.found / self.searched if self.searched else 0.0

    def describe(self) -> str:
        return (
            f"pretrained vectors cover {self.found:,} of {self.searched:,} words "
            f"({100 * self.coverage:.1f}%); the others are uniform in "
            f"[-{self.scale:.3f}, {self.scale:.3f}]"
        )


def read_vectors(path: str | os.PathLike, words: set[str] | None = None) -> dict[str, np.ndarray]:
    """Word -> vector from a word2vec (text or ``.bin``) or GloVe text file.

    Text files hold ``word v1 v2 ...`` per line; word2vec's text format adds a first line
    ``count dim`` (detected and skipped). Only ``words`` are kept when given.
    """
    path = Path(os.path.expanduser(os.fspath(path)))
    if not path.is_file():
        raise DataError(
            f"Word vectors file {path} not found: point the model's vectors at a word2vec or "
            "GloVe file."
        )
    if path.suffix == ".bin":
        return _read_word2vec_binary(path, words)
    table: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            parts = line.rstrip().split(" ")
            if i == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if len(parts) < 2:
                continue
            if dim is None:
                dim = len(parts) - 1
            if len(parts) - 1 != dim:
                raise DataError(
                    f"{path} line {i + 1} has {len(parts) - 1} values, earlier lines {dim}: "
                    "is it a word2vec or GloVe text file?"
                )
            if words is None or parts[0] in words:
                table[parts[0]] = np.asarray(parts[1:], dtype="float32")
    if dim is None:
        raise DataError(f"{path} holds no vectors.")
    return table


def _read_word2vec_binary(path: Path, words: set[str] | None) -> dict[str, np.ndarray]:
    table: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        count, dim = (int(v) for v in f.readline().split())
        width = 4 * dim
        for _ in range(count):
            chars = bytearray()
            while (ch := f.read(1)) not in (b" ", b""):
                if ch != b"\n":
                    chars.extend(ch)
            vector = np.frombuffer(f.read(width), dtype="<f4")
            word = chars.decode("utf-8", errors="replace")
            if words is None or word in words:
                table[word] = vector.astype("float32")
    return table


def embedding_matrix(
    path: str | os.PathLike,
    vocabulary: Sequence[str],
    embedding_dim: int | None = None,
    seed: int = 42,
) -> Vectors:
    """The ``len(vocabulary) x dim`` matrix for ``vocabulary`` from the file at ``path``.

    Words the file lacks are drawn uniformly from ``[-a, a]`` with ``a`` chosen so that their
    variance matches that of the pretrained vectors found for the vocabulary (Kim 2014,
    section 3.1: "the same variance as the pre-trained ones"). Row 0 (padding) is zero.
    """
    if not vocabulary:
        raise ConfigError("Pretrained vectors need the dataset's vocabulary (a text dataset).")
    table = read_vectors(path, set(vocabulary))
    if not table:
        raise DataError(f"{path} has no vector for any word of the vocabulary.")
    dim = len(next(iter(table.values())))
    if embedding_dim is not None and int(embedding_dim) != dim:
        raise ConfigError(
            f"{path} holds {dim}-d vectors but embedding_dim is {embedding_dim}: set "
            f"embedding_dim = {dim}."
        )
    known = np.stack(list(table.values()))
    scale = float(np.sqrt(3.0 * known.var()))
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-scale, scale, size=(len(vocabulary), dim)).astype("float32")
    matrix[0] = 0.0
    found = 0
    searched = 0
    for i, word in enumerate(vocabulary):
        if i == 0 or word == "[UNK]":
            continue
        searched += 1
        if word in table:
            matrix[i] = table[word]
            found += 1
    return Vectors(matrix=matrix, found=found, searched=searched, scale=scale)
