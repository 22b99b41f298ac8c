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
