"""Text datasets, models, vectors, inspection and k-fold cross-validation on tiny corpora."""

from __future__ import annotations

import json
import random
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import zoo
from zoo.analysis.embeddings import embedding_matrix, nearest, read_vectors
from zoo.datasets.text import fold_indices, read_lines
from zoo.errors import ConfigError, DataError
from zoo.models import text_layers  # noqa: F401  (registers the layers for load_model)

POS = ["good", "great", "fun", "moving"]
NEG = ["bad", "awful", "dull", "boring"]
FILL = ["the", "a", "movie", "plot", "is"]


def sentences(words: list[str], n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(words + FILL) for _ in range(rng.randint(3, 8))) for _ in range(n)]


@pytest.fixture
def mr_dir(tmp_path) -> Path:
    """An MR-like folder: 30 + 30 Latin-1 lines, one positive line with 'café'."""
    folder = tmp_path / "mr"
    folder.mkdir()
    pos = sentences(POS, 30, 1)
    pos[0] = "un café good"
    (folder / "rt-polarity.pos").write_bytes(("\n".join(pos) + "\n").encode("latin-1"))
    (folder / "rt-polarity.neg").write_bytes(("\n".join(sentences(NEG, 30, 2)) + "\n").encode())
    return folder


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A text_folder corpus: 24 documents per class."""
    root = tmp_path / "corpus"
    for cls, words, seed in (("neg", NEG, 3), ("pos", POS, 4)):
        (root / cls).mkdir(parents=True)
        for i, s in enumerate(sentences(words, 24, seed)):
            (root / cls / f"{i:02d}.txt").write_text(s)
    return root


def test_latin1_reader(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"caf\xe9 cr\xe8me\n\n na\xefve \n")
    assert read_lines(path) == ["café crème", "naïve"]
    with pytest.raises(DataError, match="not valid utf-8"):
        read_lines(path, encoding="utf-8")


def test_mr_loader_shapes_and_vocabulary_from_training_split_only(mr_dir):
    data = zoo.datasets.load("mr", directory=str(mr_dir), folds=5, fold=0, batch_size=8)
    assert data.sizes == {"train": 44, "validation": 4, "test": 12}
    x, y = next(iter(data.train))
    length = data.extras["sequence_length"]
    assert data.input_shape == (length,)
    assert x.shape == (8, length) and x.dtype.name == "int32"
    assert y.dtype.name == "int32"
    vocab = data.extras["vocabulary"]
    assert vocab[:2] == ["", "[UNK]"]
    assert data.extras["model_kwargs"]["vocabulary_size"] == len(vocab)
    # every test sentence was tokenised with the training vocabulary only
    train_tokens = set()
    for xb, _ in data.train:
        train_tokens |= set(np.unique(xb.numpy()).tolist())
    assert set(range(len(vocab))) - {0, 1} <= train_tokens
    # padding: zeros at the end of each row, never inside
    for xb, _ in data.test:
        for row in xb.numpy():
            n = int((row != 0).sum())
            assert (row[:n] != 0).all() and (row[n:] == 0).all()


def test_kim_standardize_splits_clitics_and_drops_other_punctuation(mr_dir):
    import tensorflow as tf

    from zoo.datasets.text import kim_standardize

    raw = "The 21st century's \"conan\" -- he's jean-claud (van) damme ; couldn't we'll!?"
    out = kim_standardize(tf.constant([raw])).numpy()[0].decode()
    assert out == "the 21st century 's conan he 's jean claud ( van ) damme could n't we 'll ! ?"
    # through the loader: Kim's character class has no accented letters, so café -> caf
    data = zoo.datasets.load("mr", directory=str(mr_dir), standardize="kim", test_split=0.02)
    assert "caf" in data.extras["vocabulary"] and "café" not in data.extras["vocabulary"]


def test_mr_latin1_word_survives_and_missing_folder_is_one_sentence(mr_dir, tmp_path):
    data = zoo.datasets.load("mr", directory=str(mr_dir), validation_split=0, test_split=0.02)
    assert "café" in data.extras["vocabulary"]
    with pytest.raises(DataError, match="set mr.directory"):
        zoo.datasets.load("mr", directory=str(tmp_path / "nowhere"))


def test_fold_splitting_covers_everything_once_without_leakage():
    labels = np.array([0] * 23 + [1] * 17)
    seen = []
    for k in range(5):
        train, test = fold_indices(labels, 5, k, seed=7)
        assert not set(train) & set(test)
        assert len(train) + len(test) == 40
        assert (labels[test] == 1).sum() in (3, 4)  # stratified: 17 / 5 per fold
        seen.extend(test.tolist())
    assert sorted(seen) == list(range(40))
    again = fold_indices(labels, 5, 2, seed=7)[1]
    assert again.tolist() == fold_indices(labels, 5, 2, seed=7)[1].tolist()
    assert again.tolist() != fold_indices(labels, 5, 2, seed=8)[1].tolist()
    with pytest.raises(ConfigError, match="fold must be between 0 and 4"):
        fold_indices(labels, 5, 5)


def test_text_folder_classes_and_imdb_offline(corpus, monkeypatch):
    data = zoo.datasets.load("text_folder", directory=str(corpus), test_split=0.25)
    assert data.class_names == ["neg", "pos"]
    assert data.sizes["test"] == 12
    assert data.input_dtype == "int32"

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.imdb, "load_data", offline)
    with pytest.raises(DataError, match="IMDB is not in keras' cache"):
        zoo.datasets.load("imdb")


def test_kim_cnn_parameters_follow_the_paper():
    net = zoo.build("kim_cnn", input_shape=(20,), vocabulary_size=1000)
    # embedding 1000x300, convs (3+4+5) x 300 x 100 + biases, output 300x2 + 2
    assert net.count_params() == 1000 * 300 + 12 * 300 * 100 + 300 + 300 * 2 + 2
    assert net.get_layer("predictions").kernel_constraint.max_value == 3.0
    assert net.get_layer("head_dropout").rate == 0.5
    assert net.output_shape == (None, 2)
    with pytest.raises(ConfigError, match="needs pretrained vectors"):
        zoo.build("kim_cnn", mode="static", input_shape=(20,), vocabulary_size=1000)
    with pytest.raises(ConfigError, match="shorter than the widest filter"):
        zoo.build("kim_cnn", input_shape=(4,), vocabulary_size=1000)


def test_kim_cnn_word_dropout_drops_whole_words():
    net = zoo.build(
        "kim_cnn", input_shape=(40,), vocabulary_size=50, word_dropout=0.5, include_top=False
    )
    drop = net.get_layer("word_dropout")
    x = np.ones((8, 40, 300), dtype="float32")
    out = np.asarray(drop(x, training=True))
    kept = (out != 0).all(axis=-1)
    # each token's 300 entries are kept or dropped together, about half the tokens go
    np.testing.assert_array_equal((out != 0).any(axis=-1), kept)
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(out[kept], 2.0)
    np.testing.assert_array_equal(np.asarray(drop(x, training=False)), x)


def test_kim_cnn_pad_edges_zeroes_padding_and_pads_both_ends(tmp_path):
    net = zoo.build(
        "kim_cnn", input_shape=(8,), vocabulary_size=20, pad_edges=True, include_top=False
    )
    # every width sees width - 1 zero vectors on each side: 8 + 2 * (w - 1) - w + 1 positions
    for width in (3, 4, 5):
        assert net.get_layer(f"conv{width}").output.shape[1] == 8 + width - 1
    ids = np.array([[4, 7, 9, 0, 0, 0, 0, 0]], dtype="int32")
    before = net.predict(ids, verbose=0)
    table = net.get_layer("embedding")
    weights = table.get_weights()[0]
    weights[0] = 100.0  # the padding row no longer matters
    table.set_weights([weights])
    np.testing.assert_allclose(net.predict(ids, verbose=0), before, rtol=1e-6)
    # without pad_edges the padding row is an ordinary trained vector: it changes the output
    plain = zoo.build("kim_cnn", input_shape=(8,), vocabulary_size=20, include_top=False)
    assert plain.get_layer("conv5").output.shape[1] == 4
    plain_before = plain.predict(ids, verbose=0)
    plain.get_layer("embedding").set_weights([weights])
    assert not np.allclose(plain.predict(ids, verbose=0), plain_before)
    net.save(tmp_path / "kim.keras")
    loaded = keras.saving.load_model(tmp_path / "kim.keras")
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), before, rtol=1e-6)


def test_embedding_bag_mean_ignores_padding():
    net = zoo.build("embedding_bag", input_shape=(6,), vocabulary_size=10, include_top=False)
    table = net.get_layer("embedding").embeddings.numpy()
    out = net.predict(np.array([[3, 5, 0, 0, 0, 0]], dtype="int32"), verbose=0)
    np.testing.assert_allclose(out[0], (table[3] + table[5]) / 2, rtol=1e-6)


def test_onehot_bag_is_the_mean_of_one_hot_vectors():
    net = zoo.build(
        "onehot", input_shape=(5,), vocabulary_size=6, include_top=False, hidden_units=0
    )
    out = net.predict(np.array([[2, 4, 2, 0, 0]], dtype="int32"), verbose=0)
    np.testing.assert_allclose(out[0], [0, 0, 2 / 3, 0, 1 / 3, 0], rtol=1e-6)


def test_onehot_bag_keeps_large_token_ids_apart_under_mixed_bfloat16():
    # bfloat16 has 8 significant bits: 12345 would round to 12352 and 301 to 300
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        net = zoo.build(
            "onehot", input_shape=(4,), vocabulary_size=20000, include_top=False, hidden_units=0
        )
        out = net.predict(np.array([[12345, 301, 12352, 0]], dtype="int32"), verbose=0)
    finally:
        keras.config.set_dtype_policy(previous)
    out = np.asarray(out, dtype="float32")[0]
    np.testing.assert_array_equal(np.nonzero(out)[0], [301, 12345, 12352])


def test_gru_reads_a_padded_sentence_like_the_unpadded_one():
    long = zoo.build("gru", input_shape=(7,), vocabulary_size=12, units=[4, 3])
    short = zoo.build("gru", input_shape=(3,), vocabulary_size=12, units=[4, 3])
    short.set_weights(long.get_weights())
    a = long.predict(np.array([[4, 9, 2, 0, 0, 0, 0]], dtype="int32"), verbose=0)
    b = short.predict(np.array([[4, 9, 2]], dtype="int32"), verbose=0)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert [layer.name for layer in long.layers[2:4]] == ["bigru1", "bigru2"]


def test_transformer_masks_padding_positions():
    net = zoo.build(
        "transformer", input_shape=(6,), vocabulary_size=12, embedding_dim=8, heads=2, ff_dim=16
    )
    x = np.array([[4, 9, 2, 0, 0, 0]], dtype="int32")
    before = net.predict(x, verbose=0)
    positions = net.get_layer("embedding").position_embedding
    table = positions.embeddings.numpy()
    table[3:] = 5.0  # positions only padding occupies
    positions.embeddings.assign(table)
    np.testing.assert_allclose(net.predict(x, verbose=0), before, atol=1e-6)
    layer = net.get_layer("encoder1")
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "name", ["embedding_bag", "onehot", "kim_cnn", "gru", "lstm", "transformer"]
)
def test_save_and_load_give_identical_predictions(name, tmp_path):
    kw = {"embedding_dim": 8} if name != "onehot" else {}
    if name == "kim_cnn":
        kw["filters"] = 4
    net = zoo.build(name, input_shape=(9,), vocabulary_size=30, classes=3, **kw)
    x = np.random.default_rng(0).integers(0, 30, size=(5, 9)).astype("int32")
    x[:, 6:] = 0
    before = net.predict(x, verbose=0)
    assert before.shape == (5, 3)
    net.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(x, verbose=0), before, atol=1e-6)


@pytest.fixture
def vectors_file(tmp_path) -> Path:
    path = tmp_path / "tiny.vec"
    path.write_text("3 4\ngood 1 0 0 0\ngreat 0.9 0.1 0 0\nbad -1 0 0 0\n")
    return path


def test_vectors_file_coverage_and_kim_initialisation(vectors_file, tmp_path):
    assert sorted(read_vectors(vectors_file)) == ["bad", "good", "great"]
    glove = tmp_path / "glove.txt"
    glove.write_text("good 1 0 0 0\nbad -1 0 0 0\n")
    assert sorted(read_vectors(glove)) == ["bad", "good"]
    vocab = ["", "[UNK]", "good", "movie", "bad", "plot"]
    found = embedding_matrix(vectors_file, vocab, seed=0)
    assert (found.found, found.searched, found.coverage) == (2, 4, 0.5)
    known = np.array([[1, 0, 0, 0], [-1, 0, 0, 0]], dtype="float32")  # the vocabulary's vectors
    assert found.scale == pytest.approx(np.sqrt(3 * known.var()), rel=1e-6)
    np.testing.assert_array_equal(found.matrix[2], [1, 0, 0, 0])
    np.testing.assert_array_equal(found.matrix[0], 0)
    assert np.abs(found.matrix[[1, 3, 5]]).max() <= found.scale
    with pytest.raises(ConfigError, match="set embedding_dim = 4"):
        embedding_matrix(vectors_file, vocab, embedding_dim=300)


def test_kim_cnn_static_and_multichannel_use_the_vectors(vectors_file):
    vocab = ["", "[UNK]", "good", "movie", "bad", "plot"]
    kw = dict(
        input_shape=(6,),
        vocabulary_size=6,
        vocabulary=vocab,
        vectors=str(vectors_file),
        embedding_dim=4,
        filters=2,
    )
    static = zoo.build("kim_cnn", mode="static", **kw)
    layer = static.get_layer("embedding")
    assert not layer.trainable
    np.testing.assert_array_equal(layer.embeddings.numpy()[4], [-1, 0, 0, 0])
    multi = zoo.build("kim_cnn", mode="multichannel", **kw)
    frozen = multi.get_layer("embedding_static")
    tuned = multi.get_layer("embedding_nonstatic")
    assert not frozen.trainable and tuned.trainable
    np.testing.assert_array_equal(frozen.embeddings.numpy(), tuned.embeddings.numpy())
    # each filter spans both channels: width x (2 x 4) weights + bias, for widths 3, 4, 5
    assert multi.get_layer("conv3").kernel.shape == (3, 8, 2)


def test_nearest_words_by_cosine_similarity(tmp_path):
    vocab = ["", "[UNK]", "good", "great", "bad", "fine"]
    net = zoo.build("embedding_bag", input_shape=(4,), vocabulary_size=6, embedding_dim=2)
    net.get_layer("embedding").embeddings.assign(
        np.array([[0, 0], [1, 1], [1, 0], [0.9, 0.1], [-1, 0], [0.5, 0.5]], dtype="float32")
    )
    result = nearest(net, "good", k=3, vocabulary=vocab)
    assert [w for w, _ in result] == ["great", "fine", "bad"]
    assert result[1][1] == pytest.approx(np.sqrt(0.5), rel=1e-5)
    out = zoo.analysis.embeddings.export_projector(net, tmp_path / "proj", vocabulary=vocab)
    assert (out / "metadata.tsv").read_text().split("\n")[:4] == ["good", "great", "bad", "fine"]
    assert (out / "vectors.tsv").read_text().split("\n")[0] == "1\t0"
    assert 'metadata_path: "metadata.tsv"' in (out / "projector_config.pbtxt").read_text()
    with pytest.raises(ConfigError, match="not in the model's vocabulary"):
        nearest(net, "zebra", vocabulary=vocab)


def test_kfold_run_nests_folds_and_reports_mean_and_std(corpus, mlflow_db, capsys):
    from zoo.cli import main

    code = main(
        [
            "train",
            "mr_embedding_bag",
            "--folds",
            "3",
            "--bind",
            "train.dataset = 'text_folder'",
            "--bind",
            f"text_folder.directory = '{corpus}'",
            "--bind",
            "train.epochs = 2",
            "--bind",
            "train.batch_size = 16",
            "--bind",
            "train.precision = 'float32'",
            "--bind",
            "train.experiment = 'cv'",
            "--bind",
            "train.run_name = 'tiny'",
            "--bind",
            "embedding_bag.embedding_dim = 8",
        ]
    )
    assert code == 0
    parent = Path("runs/cv/tiny")
    summary = json.loads((parent / "summary.json").read_text())
    assert summary["status"] == "FINISHED" and summary["folds"] == 3
    accs = [r["test_metrics"]["test_accuracy"] for r in summary["fold_runs"]]
    assert summary["cv"]["test_accuracy"]["mean"] == pytest.approx(np.mean(accs))
    assert summary["cv"]["test_accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1))
    for i in range(3):
        fold_dir = parent / f"fold-{i + 1:02d}"
        assert (fold_dir / "tensorboard" / "metadata.tsv").is_file()
        assert (fold_dir / "checkpoints" / "best.keras").is_file()
    client = MlflowClient(mlflow_db)
    parent_id = summary["mlflow"]["run_id"]
    children = [client.get_run(r["mlflow_run_id"]) for r in summary["fold_runs"]]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    metrics = client.get_run(parent_id).data.metrics
    assert metrics["cv_mean_test_accuracy"] == pytest.approx(np.mean(accs))
    assert metrics["cv_std_test_accuracy"] == pytest.approx(np.std(accs, ddof=1))
    history = client.get_metric_history(parent_id, "fold_test_accuracy")
    assert sorted(m.step for m in history) == [0, 1, 2]
    artifacts = [a.path for a in client.list_artifacts(children[0].info.run_id, "projector")]
    assert "projector/metadata.tsv" in artifacts
    words = nearest(children[0].data.tags["zoo.run_dir"], "good", k=2)
    assert len(words) == 2
    # the same from the command line, and a word the run never saw is one sentence, exit 2
    capsys.readouterr()
    assert main(["nearest", str(parent / "fold-01"), "good", "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "good" and [line.split()[1] for line in lines[1:]] == [w for w, _ in words]
    assert main(["nearest", str(parent / "fold-01"), "zzzunseen"]) == 2
    assert "not in the model's vocabulary" in capsys.readouterr().err
    assert main(["nearest", str(parent / "no-such-run"), "good"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "neither a run directory nor a .keras file" in out.err


def test_fold_without_validation_split_trains_its_fixed_epochs(mr_dir):
    # no validation: keras' CSVLogger writes "NA" in the val_ columns; the run must still finish
    result = zoo.train(
        "mr_embedding_bag",
        [
            f"mr.directory = '{mr_dir}'",
            "mr.validation_split = 0",
            "train.early_stopping_patience = 0",
            "train.epochs = 2",
            "train.precision = 'float32'",
            "train.run_name = 'noval'",
            "embedding_bag.embedding_dim = 8",
        ],
        folds=3,
        fold=0,
        verbose=0,
    )
    assert result.status == "FINISHED"
    assert len(result.history["loss"]) == 2
    assert "val_loss" not in result.history
    assert 0.0 <= result.test_metrics["test_accuracy"] <= 1.0
