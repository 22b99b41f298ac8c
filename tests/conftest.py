"""Shared fixtures: every test runs in its own folder with its own MLflow store and gin state."""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(scope="session")
def mlflow_db(tmp_path_factory) -> str:
    """One SQLite store for the session: creating its tables costs seconds, so do it once."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch, mlflow_db):
    """Run in tmp_path, log to the session store, start and end with a clean gin config."""
    import gin

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_db)
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    gin.clear_config()
    yield
    gin.clear_config()
    keras = sys.modules.get("keras")
    if keras is not None:  # a test that set a bf16 policy does not leak it into the next one
        keras.mixed_precision.set_global_policy("float32")


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a gzipped IDX file (the MNIST format) of unsigned bytes."""
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.fixture
def fake_fashion(tmp_path) -> Path:
    """A Fashion-MNIST folder with 200 train and 50 test images whose class is learnable.

    Each class lights up its own 4-row band of the 28x28 image, plus noise.
    """
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion-data"
    folder.mkdir()

    def make(n):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, (c * 2) : (c * 2) + 4, :] = 250
        return images, labels.astype(np.uint8)

    x_train, y_train = make(200)
    x_test, y_test = make(50)
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test)
    return folder
