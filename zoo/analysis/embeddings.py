"""Looking inside word embeddings: nearest neighbours and TensorBoard's embedding projector.

    zoo.analysis.embeddings.nearest("runs/mr/kim/", "good", k=5)        # a run dir, a .keras file or a Model
    zoo.analysis.embeddings.export_projector("runs/mr/kim/")             # vectors.tsv + metadata.tsv + config

A text run (``zoo train mr_kim_cnn``) writes ``vocabulary.txt`` beside its checkpoints and
exports the projector files into its ``tensorboard/`` folder (and to MLflow under
``projector/``) by itself. Importing this package does not import TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ConfigError
from zoo.models.word_vectors import Vectors, embedding_matrix, read_vectors
from zoo.tracking.rundir import RunDir

PROJECTOR_CONFIG = "projector_config.pbtxt"


def _run_dir(source: Any) -> Path | None:
    path = getattr(source, "run_dir", source)
    if isinstance(path, str | os.PathLike) and Path(path).is_dir():
        return Path(path)
    return None


def load_model_and_vocabulary(source: Any):
    """(model, vocabulary or None) from a Model, a ``.keras`` file, a run dir or a RunResult.

    A run dir gives its ``vocabulary.txt`` and its best checkpoint (else its last one).
    """
    from zoo.models.saving import load_model

    vocabulary = None
    run_dir = _run_dir(source)
    if run_dir is not None:
        files = RunDir(run_dir)
        if files.vocabulary.is_file():
            vocabulary = files.vocabulary.read_text().split("\n")[:-1]
        checkpoint = files.existing_checkpoint()
        if checkpoint is not None:
            return load_model(checkpoint, compile=False), vocabulary
        raise ConfigError(f"{run_dir} holds no checkpoints/best.keras or last.keras.")
    if isinstance(source, str | os.PathLike):
        if not Path(source).is_file():
            raise ConfigError(f"{source} is neither a run directory nor a .keras file.")
        return load_model(source, compile=False), None
    return source, None


def embedding_weights(model) -> np.ndarray:
    """The word-embedding matrix of a text model (row i is token i's vector).

    Looks for the layer named ``embedding`` (a token table, or the token table inside the
    transformer's embedding layer), then ``embedding_nonstatic``.
    """
    for name in ("embedding", "embedding_nonstatic"):
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        inner = getattr(layer, "token_embedding", layer)
        return np.asarray(inner.embeddings.numpy(), dtype="float32")
    raise ConfigError(
        f"model {model.name!r} has no layer named 'embedding': only embedding models have "
        "word vectors (the onehot baseline has none)."
    )


def nearest(
    model_or_run: Any,
    word: str,
    k: int = 10,
    vocabulary: Sequence[str] | None = None,
) -> list[tuple[str, float]]:
    """The ``k`` words whose embeddings are closest to ``word``'s by cosine similarity.

    ``model_or_run`` is a keras Model (then pass ``vocabulary``, e.g.
    ``Dataset.extras["vocabulary"]``), a ``.keras`` file, a run directory or a RunResult.
    """
    model, found_vocab = load_model_and_vocabulary(model_or_run)
    vocabulary = list(vocabulary) if vocabulary is not None else found_vocab
    if vocabulary is None:
        raise ConfigError("nearest needs the vocabulary: pass vocabulary=[...] or a run dir.")
    index = {w: i for i, w in enumerate(vocabulary)}
    if word not in index or index[word] < 2:
        raise ConfigError(f"{word!r} is not in the model's vocabulary.")
    vectors = embedding_weights(model)[: len(vocabulary)]
    norms = np.linalg.norm(vectors, axis=1)
    norms[norms == 0] = 1.0
    unit = vectors / norms[:, None]
    scores = unit @ unit[index[word]]
    scores[[0, 1, index[word]]] = -np.inf  # padding, [UNK] and the word itself
    best = np.argsort(-scores)[:k]
    return [(vocabulary[i], float(scores[i])) for i in best]


def export_projector(
    model_or_run: Any,
    out_dir: str | os.PathLike | None = None,
    vocabulary: Sequence[str] | None = None,
    max_words: int | None = 10_000,
) -> Path:
    """Write ``vectors.tsv``, ``metadata.tsv`` and ``projector_config.pbtxt`` to ``out_dir``.

    ``tensorboard --logdir out_dir`` then shows the words in the Projector tab. The default
    ``out_dir`` is the run's ``tensorboard/`` folder. Padding and ``[UNK]`` are left out; the
    first ``max_words`` (most frequent) words are written.
    """
    model, found_vocab = load_model_and_vocabulary(model_or_run)
    vocabulary = list(vocabulary) if vocabulary is not None else found_vocab
    if vocabulary is None:
        raise ConfigError("export_projector needs the vocabulary: pass vocabulary=[...].")
    if out_dir is None:
        run_dir = _run_dir(model_or_run)
        if run_dir is None:
            raise ConfigError("export_projector needs out_dir when given a model.")
        out_dir = RunDir(run_dir).tensorboard
    return _write_projector(embedding_weights(model), vocabulary, Path(out_dir), max_words)


def _write_projector(
    weights: np.ndarray, vocabulary: Sequence[str], out: Path, max_words: int | None
) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    stop = min(len(vocabulary), len(weights))
    if max_words is not None:
        stop = min(stop, max_words + 2)
    rows = range(2, stop)
    with open(out / "vectors.tsv", "w") as f:
        for i in rows:
            f.write("\t".join(f"{v:.5g}" for v in weights[i]) + "\n")
    with open(out / "metadata.tsv", "w", encoding="utf-8") as f:
        for i in rows:
            f.write(vocabulary[i].replace("\t", " ") + "\n")
    (out / PROJECTOR_CONFIG).write_text(
        "embeddings {\n"
        '  tensor_name: "word_embedding"\n'
        '  tensor_path: "vectors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "}\n"
    )
    return out


def log_run_embeddings(model, vocabulary: Sequence[str], run_dir: Path, handle=None) -> None:
    """End of a text run: projector files into ``tensorboard/`` and MLflow ``projector/``."""
    try:
        weights = embedding_weights(model)
    except ConfigError:
        return
    out = _write_projector(weights, vocabulary, RunDir(run_dir).tensorboard, 10_000)
    if handle is not None:
        with contextlib.suppress(Exception):
            for name in ("vectors.tsv", "metadata.tsv", PROJECTOR_CONFIG):
                handle.client.log_artifact(handle.run_id, str(out / name), "projector")


__all__ = [
    "Vectors",
    "embedding_matrix",
    "embedding_weights",
    "export_projector",
    "log_run_embeddings",
    "nearest",
    "read_vectors",
]
