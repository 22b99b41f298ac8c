"""Image datasets: Fashion-MNIST, scikit-learn's digits, CIFAR-10, flowers and image folders.

Each image loader takes ``augment`` (see :mod:`zoo.datasets.augment`): augmentation of the
training batches, e.g. ``fashion_mnist.augment = ['crop', 'flip']``.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from zoo.datasets.augment import augment_train
from zoo.datasets.base import Dataset, check_classes, from_arrays
from zoo.datasets.registry import register_dataset
from zoo.errors import DataError

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
# Attributes for the multi-label target: each is a set of Fashion-MNIST classes.
FASHION_ATTRIBUTES = {
    "footwear": [5, 7, 9],
    "upper_body": [0, 2, 4, 6],
    "long_sleeves": [2, 4, 6],
    "accessory": [8],
}
FASHION_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
DIGITS_ATTRIBUTES = {"even": [0, 2, 4, 6, 8], "prime": [2, 3, 5, 7], "large": [5, 6, 7, 8, 9]}


def keras_cache_dir() -> Path:
    """keras' download cache: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read a (gzipped) IDX file: the format of MNIST and Fashion-MNIST."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(
            f"{path} cannot be read as an IDX file ({exc}); delete it and fetch it again."
        ) from None
    if len(data) < 4:
        raise DataError(f"{path} is not an IDX file (too short).")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(f"{path} is not an unsigned-byte IDX file (bad magic number).")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if array.size != int(np.prod(dims)):
        raise DataError(
            f"{path} is truncated: expected {int(np.prod(dims))} values, found {array.size}."
        )
    return array.reshape(dims)


def fashion_mnist_dirs(data_dir: str | None = None) -> list[Path]:
    """Where Fashion-MNIST is looked for, in order."""
    dirs = []
    for base in (data_dir, os.environ.get("ZOO_DATA_DIR")):
        if base:
            dirs += [Path(base), Path(base) / "fashion-mnist", Path(base) / "fashion_mnist"]
    dirs += [keras_cache_dir() / "fashion-mnist", Path(DEBIAN_FASHION_DIR)]
    return dirs


def find_fashion_mnist(data_dir: str | None = None) -> Path | None:
    for d in fashion_mnist_dirs(data_dir):
        if all((d / f).is_file() for f in FASHION_FILES.values()):
            return d
    return None


def read_fashion_mnist(data_dir: str | None = None, download: bool = True):
    """(x_train, y_train), (x_test, y_test) as uint8 arrays, from disk or keras' download."""
    found = find_fashion_mnist(data_dir)
    if found is not None:
        arrays = {k: read_idx(found / f) for k, f in FASHION_FILES.items()}
        return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])
    reason = "download disabled"
    if download:
        try:
            import keras

            return keras.datasets.fashion_mnist.load_data()
        except Exception as exc:  # offline, proxy, partial file...
            reason = f"download failed: {type(exc).__name__}"
    places = ", ".join(str(d) for d in dict.fromkeys(fashion_mnist_dirs(data_dir)))
    raise DataError(
        f"Fashion-MNIST not found (looked in {places}; {reason}): install it with "
        "'apt-get install dataset-fashion-mnist', or put the four IDX .gz files in a folder "
        "and set ZOO_DATA_DIR to it."
    )


@register_dataset("fashion_mnist")
def fashion_mnist(
    batch_size: int = 128,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 5000,
    train_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    classes: list[int] | None = None,
    augment: list[str] | None = None,
) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017): 60,000 train / 10,000 test 28x28x1 images, 10 classes."""
    (x_train, y_train), (x_test, y_test) = read_fashion_mnist(data_dir, download)
    data = from_arrays(
        "fashion_mnist",
        x_train[..., None],
        y_train,
        x_test[..., None],
        y_test,
        num_classes=10,
        class_names=FASHION_CLASSES,
        batch_size=batch_size,
        target=target,
        validation_split=validation_split,
        train_size=train_size,
        seed=seed,
        classes=classes,
        attributes=FASHION_ATTRIBUTES,
    )
    return augment_train(data, augment, seed)


@register_dataset("digits")
def digits(
    batch_size: int = 64,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 0.15,
    test_split: float = 0.2,
    train_size: int | None = None,
    classes: list[int] | None = None,
    augment: list[str] | None = None,
) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes): works with no download.

    There is no official test split: a seeded, stratified ``test_split`` is held out first.
    For ``target='regression'`` the target is the digit's value.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = bunch.images.astype("float32")[..., None]
    y = bunch.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_split, random_state=seed, stratify=y
    )
    data = from_arrays(
        "digits",
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        batch_size=batch_size,
        target=target,
        validation_split=validation_split,
        train_size=train_size,
        seed=seed,
        classes=classes,
        scale=1 / 16,
        attributes=DIGITS_ATTRIBUTES,
    )
    return augment_train(data, augment, seed)


CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def _read_cifar_batch(path: Path):
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")
    x = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(batch[b"labels"], dtype=np.int64)


def read_cifar10(data_dir: str | None = None, download: bool = True):
    """CIFAR-10 from the python-pickle batches (keras' cache layout) or keras' download.

    Looked for in ``data_dir``, ``$ZOO_DATA_DIR`` and keras' cache, then downloaded by
    ``keras.datasets.cifar10.load_data()`` (into keras' cache) when ``download`` is on.
    """
    dirs = []
    for base in (data_dir, os.environ.get("ZOO_DATA_DIR")):
        if base:
            dirs += [Path(base), Path(base) / "cifar-10-batches-py"]
    # keras 3 extracts into cifar-10-batches-py-target/, keras 2 into the folder itself
    cache = keras_cache_dir()
    dirs += [
        cache / "cifar-10-batches-py-target" / "cifar-10-batches-py",
        cache / "cifar-10-batches-py",
    ]
    for d in dirs:
        if (d / "data_batch_1").is_file() and (d / "test_batch").is_file():
            parts = [_read_cifar_batch(d / f"data_batch_{i}") for i in range(1, 6)]
            x_test, y_test = _read_cifar_batch(d / "test_batch")
            x_train = np.concatenate([p[0] for p in parts])
            y_train = np.concatenate([p[1] for p in parts])
            return (x_train, y_train), (x_test, y_test)
    reason = "download disabled"
    if download:
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
            return (x_train, y_train.ravel()), (x_test, y_test.ravel())
        except Exception as exc:
            reason = f"download failed: {type(exc).__name__}"
    places = ", ".join(str(d) for d in dirs)
    raise DataError(
        f"CIFAR-10 not found (looked in {places}; {reason}): download it once with "
        "keras.datasets.cifar10.load_data() on a machine that is online, or put the "
        "cifar-10-batches-py folder in ZOO_DATA_DIR."
    )


@register_dataset("cifar10")
def cifar10(
    batch_size: int = 128,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 5000,
    train_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    classes: list[int] | None = None,
    augment: list[str] | None = None,
) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009): 50,000 train / 10,000 test 32x32x3 images, 10 classes."""
    (x_train, y_train), (x_test, y_test) = read_cifar10(data_dir, download)
    data = from_arrays(
        "cifar10",
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes=10,
        class_names=CIFAR10_CLASSES,
        batch_size=batch_size,
        target=target,
        validation_split=validation_split,
        train_size=train_size,
        seed=seed,
        classes=classes,
    )
    return augment_train(data, augment, seed)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def _read_folder(root: Path, image_size, color_mode: str, class_names=None):
    from PIL import Image

    classes = class_names or sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(
            f"{root} has no class sub-folders: put each class's images in root/<class>/."
        )
    xs, ys = [], []
    mode = {"grayscale": "L", "rgb": "RGB"}[color_mode]
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()) if (root / cls).is_dir() else []:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                img = Image.open(f).convert(mode).resize(tuple(image_size[::-1]))
                arr = np.asarray(img, dtype=np.uint8)
                xs.append(arr[..., None] if arr.ndim == 2 else arr)
                ys.append(label)
    if not xs:
        raise DataError(f"{root} has class folders but no images ({', '.join(IMAGE_SUFFIXES)}).")
    return np.stack(xs), np.asarray(ys, dtype=np.int64), classes


@register_dataset("image_folder")
def image_folder(
    directory: str | None = None,
    batch_size: int = 32,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 0.2,
    image_size: tuple[int, int] = (64, 64),
    color_mode: str = "rgb",
    train_size: int | None = None,
    augment: list[str] | None = None,
) -> Dataset:
    """Images in ``directory/<class>/``; a ``directory/test/<class>/`` tree is the test split.

    Without a ``test`` folder, ``directory/train/`` (or ``directory``) gives train and
    validation only.
    """
    if directory is None or not Path(directory).is_dir():
        raise DataError(
            f"image_folder needs an existing directory, got {directory!r}: bind image_folder.directory."
        )
    root = Path(directory)
    train_root = root / "train" if (root / "train").is_dir() else root
    x_train, y_train, classes = _read_folder(train_root, image_size, color_mode)
    if target in ("sparse", "onehot"):
        check_classes("image_folder", y_train, len(classes), classes)
    x_test = y_test = None
    if (root / "test").is_dir() and train_root != root:
        x_test, y_test, _ = _read_folder(root / "test", image_size, color_mode, classes)
    data = from_arrays(
        "image_folder",
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes=len(classes),
        class_names=classes,
        batch_size=batch_size,
        target=target,
        validation_split=validation_split,
        train_size=train_size,
        seed=seed,
    )
    return augment_train(data, augment, seed)


FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)


def flowers_dirs(data_dir: str | None = None) -> list[Path]:
    """Where TF's flower_photos is looked for: ``data_dir``, ``$ZOO_DATA_DIR``, keras' cache."""
    dirs = []
    for base in (data_dir, os.environ.get("ZOO_DATA_DIR")):
        if base:
            dirs += [Path(base) / "flower_photos", Path(base)]
    cache = keras_cache_dir()
    return [*dirs, cache / "flower_photos" / "flower_photos", cache / "flower_photos"]


def _has_class_folders(d: Path) -> bool:
    return d.is_dir() and any(
        c.is_dir() and any(f.suffix.lower() in IMAGE_SUFFIXES for f in c.iterdir())
        for c in d.iterdir()
    )


def find_flowers(data_dir: str | None = None, download: bool = True) -> Path:
    """The flower_photos folder (one sub-folder per class); keras' download when missing."""
    dirs = flowers_dirs(data_dir)
    for d in dirs:
        if _has_class_folders(d):
            return d
    reason = "download disabled"
    if download:
        try:
            import keras

            extracted = keras.utils.get_file(
                "flower_photos",
                FLOWERS_URL,
                extract=True,
                cache_dir=str(keras_cache_dir().parent),
                cache_subdir="datasets",
            )
            candidates = (Path(extracted) / "flower_photos", Path(extracted))
            found = [d for d in candidates if _has_class_folders(d)]
            if found:
                return found[0]
            reason = "the downloaded archive holds no class folders"
        except Exception as exc:  # offline, proxy, partial file...
            reason = f"download failed: {type(exc).__name__}"
    places = ", ".join(str(d) for d in dict.fromkeys(dirs))
    raise DataError(
        f"flower_photos not found (looked in {places}; {reason}): run once online to download "
        f"it into keras' cache ({FLOWERS_URL}), or put the flower_photos folder in ZOO_DATA_DIR."
    )


@register_dataset("flowers")
def flowers(
    batch_size: int = 32,
    target: str = "sparse",
    seed: int = 42,
    validation_split: float | int = 0.1,
    test_split: float = 0.2,
    image_size: tuple[int, int] = (160, 160),
    train_size: int | None = None,
    data_dir: str | None = None,
    download: bool = True,
    classes: list[int] | None = None,
    augment: list[str] | None = None,
) -> Dataset:
    """TF's flower_photos: 3,670 photos of 5 flowers (daisy, dandelion, roses, sunflowers, tulips).

    The transfer-learning data of TensorFlow's tutorials, resized to ``image_size`` (160x160
    as in its MobileNetV2 transfer-learning tutorial). It has no test split: a seeded,
    stratified ``test_split`` is held out first, then validation is carved from the rest.
    """
    from sklearn.model_selection import train_test_split

    x, y, names = _read_folder(find_flowers(data_dir, download), image_size, "rgb")
    if target in ("sparse", "onehot"):
        check_classes("flowers", y, len(names), names)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_split, random_state=seed, stratify=y
    )
    data = from_arrays(
        "flowers",
        x_train,
        y_train,
        x_test,
        y_test,
        num_classes=len(names),
        class_names=names,
        batch_size=batch_size,
        target=target,
        validation_split=validation_split,
        train_size=train_size,
        seed=seed,
        classes=classes,
    )
    return augment_train(data, augment, seed)
