from __future__ import annotations

import numpy as np
import pytest

from zoo import datasets
from zoo.datasets.base import make_targets, split_validation
from zoo.datasets.images import read_idx
from zoo.errors import ConfigError, DataError, UnknownNameError, first_line

from .conftest import write_idx


def test_read_idx_round_trip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)
    (tmp_path / "bad.gz").write_bytes(b"\x00")
    with pytest.raises(DataError):
        read_idx(tmp_path / "bad.gz")


def test_fashion_mnist_from_zoo_data_dir(fake_fashion, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(fake_fashion))
    ds = datasets.load("fashion_mnist", batch_size=32, validation_split=40, download=False)
    assert ds.sizes == {"train": 160, "validation": 40, "test": 50}
    assert ds.input_shape == (28, 28, 1) and ds.num_outputs == 10
    x, y = next(iter(ds.train))
    assert x.shape == (32, 28, 28, 1) and x.dtype.name == "float32"
    assert float(x.numpy().max()) <= 1.0 and y.dtype.name == "int32"
    # the validation split is stratified: 4 of each class
    labels = np.concatenate([b[1].numpy() for b in ds.validation])
    assert np.bincount(labels).tolist() == [4] * 10


def test_fashion_mnist_missing_says_where_and_how(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr("zoo.datasets.images.DEBIAN_FASHION_DIR", str(tmp_path / "none"))
    with pytest.raises(DataError) as err:
        datasets.load("fashion_mnist", download=False)
    msg = first_line(err.value)
    assert (
        "keras-home" in msg
        and "apt-get install dataset-fashion-mnist" in msg
        and "ZOO_DATA_DIR" in msg
    )
    assert msg.endswith("set ZOO_DATA_DIR to it.")


def test_digits_splits_are_seeded_and_disjoint():
    a = datasets.load("digits", batch_size=2000, seed=1)
    b = datasets.load("digits", batch_size=2000, seed=1)
    xa = next(iter(a.train))[0].numpy()
    xb = next(iter(b.train))[0].numpy()
    assert sorted(map(bytes, xa)) == sorted(map(bytes, xb))
    assert a.sizes["train"] + a.sizes["validation"] + a.sizes["test"] == 1797
    train = {bytes(r) for r in xa}
    val = {bytes(r) for r in next(iter(a.validation))[0].numpy()}
    test = {bytes(r) for r in next(iter(a.test))[0].numpy()}
    # the 8x8 digits contain a few exact duplicates; splits must not share more than those
    assert len(train & test) <= 3 and len(train & val) <= 3


def test_targets_of_each_kind():
    labels = np.array([0, 2, 5])
    assert make_targets(labels, "sparse", 10).tolist() == [0, 2, 5]
    assert make_targets(labels, "onehot", 10).argmax(1).tolist() == [0, 2, 5]
    attrs = {"even": [0, 2, 4, 6, 8], "prime": [2, 3, 5, 7]}
    assert make_targets(labels, "multilabel", 10, attrs).tolist() == [[1, 0], [1, 1], [0, 1]]
    assert make_targets(labels, "regression", 10).ravel().tolist() == [0.0, 2.0, 5.0]
    with pytest.raises(ConfigError):
        make_targets(labels, "ordinal", 10)


def test_multilabel_and_regression_datasets():
    ml = datasets.load("digits", target="multilabel")
    assert ml.num_outputs == 3 and ml.output_names == ["even", "prime", "large"]
    reg = datasets.load("digits", target="regression")
    assert reg.num_outputs == 1
    assert next(iter(reg.train))[1].shape[-1] == 1


def test_split_validation_counts():
    x = np.arange(100)
    y = np.repeat(np.arange(4), 25)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0.2, seed=0)
    assert len(x_val) == 20 and len(x_tr) == 80
    assert not set(x_tr) & set(x_val)


def test_unknown_dataset():
    with pytest.raises(UnknownNameError, match="fashion_mnist"):
        datasets.load("fashion_mnst")


# ---- data a user can get: keras' cache, its download, and the message when both fail ----


def offline(*args, **kwargs):
    raise OSError("no network")


def write_mr(folder, lines=6):
    folder.mkdir(parents=True)
    (folder / "rt-polarity.pos").write_bytes(
        "\n".join(f"a fine caf\xe9 film number {i}" for i in range(lines)).encode("latin-1")
    )
    (folder / "rt-polarity.neg").write_bytes(
        "\n".join(f"a dull film number {i}" for i in range(lines)).encode("latin-1")
    )


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty keras cache of the test's own; any download attempt fails as offline."""
    import keras

    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.setattr(keras.utils, "get_file", offline)
    return home


def test_mr_is_read_from_keras_cache(keras_home):
    write_mr(keras_home / "datasets" / "rt-polaritydata_extracted" / "rt-polaritydata")
    data = datasets.load("mr", test_split=0.25, validation_split=0, batch_size=4)
    assert data.sizes == {"train": 8, "validation": 0, "test": 4}  # 2 of 6 per class
    assert "café" in data.extras["vocabulary"]


def test_mr_downloads_pang_and_lee_archive_into_keras_cache(keras_home, monkeypatch):
    import keras

    calls = []

    def fake_get_file(fname, origin, extract, cache_dir, cache_subdir):
        calls.append((fname, origin, extract, cache_dir, cache_subdir))
        extracted = keras_home / "datasets" / "rt-polaritydata_extracted"
        write_mr(extracted / "rt-polaritydata")
        return str(extracted)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    data = datasets.load("mr", test_split=0.25, validation_split=0)
    assert data.sizes["train"] + data.sizes["test"] == 12
    assert calls == [
        (
            "rt-polaritydata.tar.gz",
            "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz",
            True,
            str(keras_home),
            "datasets",
        )
    ]


def test_mr_offline_and_missing_names_the_places_and_how(keras_home, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "zoo-data"))
    with pytest.raises(DataError) as err:
        datasets.load("mr")
    msg = first_line(err.value)
    assert str(tmp_path / "zoo-data" / "mr") in msg and str(keras_home / "datasets") in msg
    assert "download failed: OSError" in msg and "rt-polaritydata.tar.gz" in msg
    assert "shared" not in msg


def write_cifar_batches(folder, n=4):
    import pickle

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [i % 10 for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(batch))


def test_cifar10_is_read_from_keras_3_cache_layout(keras_home, monkeypatch):
    import keras

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    write_cifar_batches(
        keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    )
    data = datasets.load("cifar10", validation_split=4, batch_size=8)
    assert data.sizes == {"train": 16, "validation": 4, "test": 4}
    assert data.input_shape == (32, 32, 3)


def test_cifar10_offline_and_missing_is_one_sentence(keras_home, monkeypatch):
    import keras

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataError) as err:
        datasets.load("cifar10")
    msg = first_line(err.value)
    assert str(keras_home / "datasets") in msg and "download failed: OSError" in msg


def write_flowers(folder, per_class=5):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("daisy", "roses", "tulips"):
        (folder / cls).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / cls / f"{i}.jpg")
    (folder / "LICENSE.txt").write_text("CC-BY\n")


def test_flowers_from_keras_cache(keras_home):
    write_flowers(keras_home / "datasets" / "flower_photos" / "flower_photos")
    data = datasets.load(
        "flowers", image_size=(8, 8), test_split=0.2, validation_split=3, batch_size=4
    )
    assert data.class_names == ["daisy", "roses", "tulips"]
    assert data.sizes == {"train": 9, "validation": 3, "test": 3}
    assert data.input_shape == (8, 8, 3)


def test_flowers_offline_and_missing_names_the_places_and_how(keras_home):
    with pytest.raises(DataError) as err:
        datasets.load("flowers")
    msg = first_line(err.value)
    assert str(keras_home / "datasets" / "flower_photos") in msg
    assert "download failed: OSError" in msg and "flower_photos.tgz" in msg


def test_train_size_counts_training_examples_after_the_validation_split(fake_fashion):
    data = datasets.load(
        "fashion_mnist", data_dir=str(fake_fashion), train_size=100, validation_split=40
    )
    assert data.sizes == {"train": 100, "validation": 40, "test": 50}
    # a fraction is of the examples used: 300 training + 53 validation (0.15 of 353), and the
    # stratified split rounds each class's share
    digits = datasets.load("digits", train_size=300, validation_split=0.15)
    assert digits.sizes["train"] == 300
    assert abs(digits.sizes["validation"] - 53) <= 5
    everything = datasets.load("digits", validation_split=0.15)
    assert everything.sizes == {"train": 1221, "validation": 216, "test": 360}
    # more than there is: all that remains after the validation split
    assert datasets.load("digits", train_size=5000).sizes["train"] == 1221
    with pytest.raises(ConfigError, match="train_size must be at least 1"):
        datasets.load("digits", train_size=0)
    with pytest.raises(ConfigError, match=r"digits.classes = \[3\] keeps one class"):
        datasets.load("digits", classes=[3])


def _image_classes(root, classes):
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, size=(9 + i % 3, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


FOLDER_RUN = [
    "train.dataset = 'image_folder'",
    "image_folder.image_size = (8, 8)",
    "image_folder.validation_split = 2",
    "cnn.filters = [4]",
    "cnn.dense_units = [8]",
    "train.epochs = 1",
]


@pytest.mark.parametrize(
    ("classes", "sentence"),
    [
        (
            {"daisy": 6},
            "image_folder has 1 class ('daisy'): a classifier needs at least two, each with its "
            "own examples (a folder per class for folder datasets).",
        ),
        (
            {"daisy": 6, "roses": 0, "tulips": 6},
            "image_folder: class 'roses' has no training examples (an empty class folder?): add "
            "examples or remove the class.",
        ),
    ],
)
def test_folder_data_that_cannot_train_a_classifier_is_one_sentence(tmp_path, classes, sentence):
    import contextlib
    import io

    from zoo.cli import main

    root = _image_classes(tmp_path / "images", classes)
    with pytest.raises(DataError) as err:
        datasets.load("image_folder", directory=str(root), image_size=(8, 8))
    assert first_line(err.value) == sentence
    binds = [*FOLDER_RUN, f"image_folder.directory = '{root}'"]
    for extra in (["--check"], []):  # at --check, and before training
        argv = ["train", "digits_cnn", *extra]
        for b in binds:
            argv += ["--bind", b]
        out, err_text = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err_text):
            code = main(argv)
        assert code == 2 and err_text.getvalue() == f"zoo: error: {sentence}\n"
        assert "training epochs" not in out.getvalue()


def test_images_of_mixed_sizes_are_resized_and_an_empty_text_class_is_named(tmp_path):
    # mixed sizes do not matter: every image is resized to image_size when it is read
    root = _image_classes(tmp_path / "images", {"a": 3, "b": 3})
    data = datasets.load("image_folder", directory=str(root), image_size=(8, 8), batch_size=6)
    assert data.input_shape == (8, 8, 3) and data.sizes["train"] + data.sizes["validation"] == 6
    corpus = tmp_path / "corpus"
    (corpus / "neg").mkdir(parents=True)
    (corpus / "pos").mkdir()
    for i in range(6):
        (corpus / "neg" / f"{i}.txt").write_text("dull and slow")
    with pytest.raises(DataError, match="class 'pos' has no training examples"):
        datasets.load("text_folder", directory=str(corpus))


def test_flowers_with_one_class_is_one_sentence(keras_home):
    _image_classes(keras_home / "datasets" / "flower_photos" / "flower_photos", {"daisy": 5})
    with pytest.raises(DataError) as err:
        datasets.load("flowers", image_size=(8, 8), download=False)
    assert first_line(err.value).startswith("flowers has 1 class ('daisy'): a classifier needs")
