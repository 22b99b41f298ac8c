"""Augmentation in the input pipeline: training batches only, seeded, labels mixed correctly."""

from __future__ import annotations

import gin
import numpy as np
import pytest

from zoo import datasets
from zoo.datasets.augment import augment_train
from zoo.datasets.base import from_arrays
from zoo.errors import ConfigError, first_line


def batches(split) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in split], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture
def fashion(fake_fashion, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(fake_fashion))

    def load(**kw):
        return datasets.load("fashion_mnist", batch_size=32, validation_split=40, **kw)

    return load


def flat_classes(target="onehot", n=40, size=8):
    """Each image is one grey value, its class / 10: a mixed image's mean tells its mix."""
    labels = np.arange(n) % 10
    x = np.repeat((labels * 255 // 10).astype(np.uint8), size * size).reshape(n, size, size, 1)
    return from_arrays(
        "toy", x, labels, None, None, num_classes=10, batch_size=n, target=target,
        validation_split=0, seed=3,
    )  # fmt: skip


def test_only_the_training_batches_change(fashion):
    plain = fashion()
    augmented = fashion(augment=["crop", "flip"])
    x_plain, y_plain = batches(plain.train)
    x_aug, y_aug = batches(augmented.train)
    assert x_aug.shape == x_plain.shape and x_aug.dtype == np.float32
    np.testing.assert_array_equal(y_aug, y_plain)  # same seeded order, labels untouched
    assert not np.array_equal(x_aug, x_plain)
    assert 0.0 <= x_aug.min() and x_aug.max() <= 1.0
    for split in ("validation", "test"):
        a, b = batches(getattr(plain, split)), batches(getattr(augmented, split))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert augmented.extras["augment"] == ["crop", "flip"]


def test_the_same_seed_gives_the_same_batches_and_epochs_differ(fashion):
    names = ["crop", "flip", "randaugment"]
    a, b, c = fashion(augment=names), fashion(augment=names), fashion(augment=names, seed=7)
    first = batches(a.train)[0]
    np.testing.assert_array_equal(first, batches(b.train)[0])
    assert not np.array_equal(first, batches(a.train)[0])  # a second epoch draws again
    assert not np.array_equal(first[:8], batches(c.train)[0][:8])


def test_crop_moves_each_image_on_its_own():
    # identical images: a per-batch offset would leave them identical
    x = np.zeros((16, 12, 12, 1), np.uint8)
    x[:, 5:7, 5:7] = 255
    data = from_arrays(
        "toy", x, np.zeros(16, int), None, None, num_classes=2, batch_size=16,
        validation_split=0, seed=1,
    )  # fmt: skip
    gin.bind_parameter("augmentation.crop_padding", 3)
    out = batches(augment_train(data, ["crop"], seed=1).train)[0]
    assert len({o.tobytes() for o in out}) > 4
    # a shift, not a resize: the 2x2 square keeps its 4 pixels unless pushed off the edge
    assert set((out > 0.5).sum(axis=(1, 2, 3)).tolist()) <= {0, 2, 4}


@pytest.mark.parametrize("name", ["mixup", "cutmix"])
def test_mixing_gives_soft_labels_that_match_the_images(name):
    data = augment_train(flat_classes("onehot"), [name], seed=0)
    x, y = batches(data.train)
    assert x.shape == (40, 8, 8, 1) and y.shape == (40, 10) and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert (y.max(axis=1) < 0.999).any()  # some labels are mixed
    # the image's grey level is the label-weighted mean of the two classes' grey levels
    grey = (np.arange(10) * 255 // 10) / 255
    np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), y @ grey, atol=1e-4)


def test_mixing_refuses_integer_labels_in_one_sentence():
    with pytest.raises(ConfigError) as err:
        augment_train(flat_classes("sparse"), ["mixup"], seed=0)
    assert "set train.target = 'onehot'" in str(err.value) and "\n" not in str(err.value)


def test_augmented_images_stay_float32_under_mixed_precision(fashion):
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        data = fashion(augment=["crop", "flip", "mixup"], target="onehot")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x, y = next(iter(data.train))
    assert x.dtype.name == "float32" and y.dtype.name == "float32"


@pytest.mark.parametrize(
    ("augment", "binding", "message"),
    [
        (["rotate"], None, "unknown 'rotate'; the augmentations are crop, flip"),
        ("crop", None, "must be a list of names"),
        (["crop", "crop"], None, "names an augmentation twice"),
        (["mixup", "cutmix"], None, "not both"),
        (["crop"], ("crop_padding", 0), "crop_padding must be a whole number of pixels from 1"),
        (["crop"], ("crop_padding", 28), "from 1 to 27"),
        (["flip"], ("flip", "diagonal"), "flip must be one of horizontal"),
        (["randaugment"], ("randaugment_factor", 2.0), "randaugment_factor must be in (0, 1]"),
        (["randaugment"], ("randaugment_ops", 0), "randaugment_ops must be"),
        (["mixup"], ("mixup_alpha", 0.0), "mixup_alpha must be above 0"),
    ],
)
def test_bad_knobs_are_one_sentence(fashion, augment, binding, message):
    if binding:
        gin.bind_parameter(f"augmentation.{binding[0]}", binding[1])
    with pytest.raises(ConfigError) as err:
        fashion(augment=augment, target="onehot")
    assert message in first_line(err.value)
