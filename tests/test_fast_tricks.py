"""The knobs of the fast recipe: label smoothing, test-time flip-and-translate, patch
whitening, batch norm without scale, ``train.jit_compile`` (each checked against numbers
computed here, in float32)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import zoo
from tests.test_end_to_end import TINY as TINY_DIGITS
from zoo.errors import ConfigError
from zoo.training import losses

TINY = [*TINY_DIGITS, "train.precision = 'float32'"]


def tiny_run(*extra, **overrides):
    return zoo.train("digits_cnn", [*TINY, *extra], **overrides)


def test_label_smoothing_of_integer_labels_matches_the_one_hot_definition():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    smoothing = 0.2
    # Szegedy et al. 2016, section 7: (1 - e) * one_hot + e / K
    target = (1 - smoothing) * np.eye(3)[[0, 2]] + smoothing / 3
    expected = float(np.mean(-(target * np.log(probs)).sum(axis=1)))
    sparse = losses.get("sparse_categorical_crossentropy", label_smoothing=smoothing)
    onehot = losses.get("categorical_crossentropy", label_smoothing=smoothing)
    assert float(sparse(np.array([0, 2]), probs)) == pytest.approx(expected, rel=1e-5)
    assert float(onehot(np.eye(3)[[0, 2]], probs)) == pytest.approx(expected, rel=1e-5)
    # from logits: the same after a softmax
    logits = np.log(probs) + 1.5
    sparse_logits = losses.get(
        "sparse_categorical_crossentropy", from_logits=True, label_smoothing=smoothing
    )
    assert float(sparse_logits(np.array([0, 2]), logits)) == pytest.approx(expected, rel=1e-5)
    plain = losses.get("sparse_categorical_crossentropy")
    assert float(plain(np.array([0, 2]), probs)) < expected
    with pytest.raises(ConfigError, match="loss 'mse' has none"):
        losses.get("mse", label_smoothing=0.1)


@pytest.mark.parametrize("bad", [1.0, -0.1, "0.1", True])
def test_label_smoothing_must_be_a_fraction(bad):
    with pytest.raises(ConfigError, match="train.label_smoothing must be"):
        zoo.training.TrainSettings(label_smoothing=bad)


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_jit_compile_is_auto_true_or_false(bad):
    with pytest.raises(ConfigError, match="train.jit_compile must be 'auto', True or False"):
        zoo.training.TrainSettings(jit_compile=bad)


def test_jit_compile_and_label_smoothing_reach_the_compiled_and_resumed_model(mlflow_db):
    result = tiny_run(
        "train.epochs = 1",
        "train.label_smoothing = 0.2",
        "train.jit_compile = False",
        "train.run_name = 'smooth'",
    )
    from zoo.models.saving import load_model

    saved = load_model(result.run_dir / "checkpoints" / "last.keras", action="resume")
    assert saved.loss.label_smoothing == pytest.approx(0.2)  # what --resume trains with
    resumed = zoo.train(resume=str(result.run_dir), epochs=2)
    assert resumed.status == "FINISHED"
    from zoo.training.optimizers import compile_model

    inputs = keras.Input((4,))
    net = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    settings = zoo.training.TrainSettings(jit_compile=True)
    assert compile_model(net, settings, 1e-3, "sparse_categorical_crossentropy").jit_compile
    settings = settings.replace(jit_compile=False)
    assert not compile_model(net, settings, 1e-3, "sparse_categorical_crossentropy").jit_compile


def shifted(x, dy, dx):
    """``x`` (N, H, W, C) moved dy down and dx right, zero-filled, in numpy."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_flip_translate_averages_six_weighted_views():
    from zoo.datasets.augment import test_time_views

    keras.utils.set_random_seed(3)
    net = keras.Sequential(
        [
            keras.Input((6, 5, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    x = np.random.default_rng(0).random((7, 6, 5, 1), dtype=np.float32)
    got = test_time_views(net, "flip_translate").predict(x, verbose=0)

    def both(v):  # the view and its mirror image, averaged
        return (net.predict(v, verbose=0) + net.predict(v[:, :, ::-1], verbose=0)) / 2

    expected = 0.5 * both(x) + 0.25 * both(shifted(x, -1, -1)) + 0.25 * both(shifted(x, 1, 1))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    flip = test_time_views(net, "flip").predict(x, verbose=0)
    np.testing.assert_allclose(flip, both(x), rtol=1e-5, atol=1e-6)


def test_flip_translate_scores_the_test_split_of_a_run(mlflow_db):
    result = tiny_run(
        "train.epochs = 1",
        "train.test_time_augment = 'flip_translate'",
        "train.run_name = 'tta6'",
    )
    saved = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras")
    data = zoo.datasets.load("digits", train_size=300, batch_size=32)
    x = np.concatenate([b[0].numpy() for b in data.test])
    y = np.concatenate([b[1].numpy() for b in data.test])

    def both(v):
        return (saved.predict(v, verbose=0) + saved.predict(v[:, :, ::-1], verbose=0)) / 2

    mean = 0.5 * both(x) + 0.25 * both(shifted(x, -1, -1)) + 0.25 * both(shifted(x, 1, 1))
    m = result.test_metrics
    assert m["test_accuracy"] == pytest.approx((mean.argmax(1) == y).mean())
    plain = saved.predict(x, verbose=0)
    assert m["test_plain_accuracy"] == pytest.approx((plain.argmax(1) == y).mean())


def test_patch_whitening_decorrelates_patches_and_keeps_both_signs():
    from zoo.models.layers import PatchWhitening, adapt_patch_whitening

    rng = np.random.default_rng(1)
    # smooth, correlated images: neighbouring pixels alike
    noise = rng.random((200, 13, 13, 2), dtype=np.float32)
    images = (noise[:, :-1, :-1] + noise[:, 1:, :-1] + noise[:, :-1, 1:] + noise[:, 1:, 1:]) / 4
    inputs = keras.Input(images.shape[1:])
    net = keras.Model(inputs, PatchWhitening(2, epsilon=1e-6, name="whiten")(inputs))
    assert adapt_patch_whitening(net, images) == 1
    out = net.predict(images, verbose=0)
    assert out.shape[-1] == 2 * 2 * 2 * 2  # a +/- pair per dimension of a 2x2x2 patch
    # 'same' padding: patches inside the image are the last row and column's neighbours
    inside = out[:, :-1, :-1].reshape(-1, out.shape[-1])
    half = inside.shape[1] // 2
    np.testing.assert_allclose(inside[:, half:], -inside[:, :half], atol=1e-5)
    np.testing.assert_allclose(inside[:, :half].mean(axis=0), 0.0, atol=1e-3)
    covariance = np.cov(inside[:, :half], rowvar=False)
    np.testing.assert_allclose(covariance, np.eye(half), atol=2e-2)
    assert not net.get_layer("whiten").trainable_weights


def test_a_run_computes_its_whitening_from_training_images_and_keeps_it(mlflow_db, capsys):
    result = tiny_run(
        "cnn.whiten = 2",
        "cnn.batch_norm_scale = False",
        "train.epochs = 2",
        "train.run_name = 'whiten'",
    )
    assert "patch whitening: 1 layer(s) set from 32 training images" in capsys.readouterr().out
    best = keras.saving.load_model(result.run_dir / "checkpoints" / "best.keras")
    last = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras")
    kernel = last.get_layer("whiten").kernel.numpy()
    assert kernel.shape == (2, 2, 1, 8)
    np.testing.assert_array_equal(kernel, best.get_layer("whiten").kernel.numpy())  # frozen
    # whitened: on the training images, each output of the first half has a variance near 1
    data = zoo.datasets.load("digits", train_size=300, batch_size=300)
    x = next(iter(data.train))[0].numpy()
    probe = keras.Model(last.input, last.get_layer("whiten").output)
    inside = probe.predict(x, verbose=0)[:, :-1, :-1, :4].reshape(-1, 4)
    assert np.all((inside.var(axis=0) > 0.3) & (inside.var(axis=0) < 3))
    # batch norm without its scale: beta and the two moving statistics, no gamma
    bn = last.get_layer("block1_bn1")
    assert [w.path.split("/")[-1] for w in bn.weights] == ["beta", "moving_mean", "moving_variance"]


@pytest.mark.parametrize("bad", [0.5, 9, "2", True])
def test_whiten_takes_a_patch_size(bad):
    from zoo.models.registry import build

    with pytest.raises(ConfigError, match="cnn: whiten must be None or a patch size"):
        build("cnn", input_shape=(28, 28, 1), classes=10, whiten=bad)
