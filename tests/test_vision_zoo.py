"""The vision zoo, tested through the registry: a newly registered vision model is tested too.

Reference numbers: AlexNet 62,378,344 (single tower, 227x227x3); VGG-16 138,357,544 (Simonyan &
Zisserman, configuration D); VGG-11-BN 132,868,840 and VGG-16-BN 138,365,992 (torchvision's
vgg11_bn and vgg16_bn, which keep the conv bias before batch norm); GoogLeNet 6,998,552 (Szegedy et al., Table 1, no auxiliary heads);
ResNet-18 11,689,512 and ResNet-50 25,557,032 (torchvision); CIFAR ResNet-20 269,722 and
ResNet-56 853,018 (He et al. 2016, section 4.2, option A shortcuts).
"""

from __future__ import annotations

import numpy as np
import pytest

import zoo
from zoo.errors import ConfigError, ShapeError
from zoo.models.stats import count_macs, count_params

VISION_FAMILIES = (
    "alexnet",
    "vgg",
    "googlenet",
    "resnet",
    "resnet_cifar",
    "seresnet",
    "seresnet_cifar",
)
VISION = [n for n in zoo.list_models() if zoo.get_spec(n).family in VISION_FAMILIES]
# The shallowest model of every block type gets the whole battery (train step, .keras round
# trip, 1- and 4-channel notop, both poolings); the deeper ones share its code and get one
# build each (forward shape, exact parameter count), which keeps the suite fast.
FULL = (
    "alexnet",
    "vgg11",
    "vgg11_bn",
    "googlenet",
    "resnet18",
    "resnet50",
    "resnet20",
    "seresnet20",
)
# Models whose head flattens a feature map: their counts depend on the input size.
FLATTEN_HEADS = ("alexnet", "vgg")


def small_stem(name: str) -> dict:
    """AlexNet's 11x11/4 stem needs 67x67: small images use its CIFAR stem."""
    return {"stem": "cifar"} if zoo.get_spec(name).family == "alexnet" else {}


def check_reference_count(name: str, model, cifar_stem: bool = False) -> None:
    """Compare a small 3-channel build with the paper's count at the default input size.

    Global pooling makes ResNet and GoogLeNet counts independent of the input size; their
    CIFAR stem swaps the 7x7 first convolution for a 3x3 one (40 x 3 weights fewer per
    filter). VGG flattens its last map into fc1: at 224x224 that map is 7x7x512, so only
    fc1's rows differ.
    """
    spec = zoo.get_spec(name)
    reference = spec.reference.get("trainable_params")
    if not reference or spec.family == "alexnet":  # alexnet: its own test at 227x227
        return
    grow = 0
    if spec.family == "vgg":
        grow = (7 * 7 * 512 - model.get_layer("fc1").kernel.shape[0]) * 4096
    elif cifar_stem and spec.default_input == (224, 224, 3):
        grow = (7 * 7 - 3 * 3) * 3 * model.get_layer("conv1_conv").kernel.shape[-1]
    assert count_params(model)[0] + grow == reference


def batch(shape, seed=0):
    return np.random.default_rng(seed).random((2, *shape)).astype("float32")


def test_the_registry_holds_every_architecture_of_the_issue():
    expected = {"alexnet", "googlenet"}
    expected |= {f"vgg{d}{bn}" for d in (11, 13, 16, 19) for bn in ("", "_bn")}
    expected |= {f"{se}resnet{d}" for se in ("", "se") for d in (18, 34, 50, 101, 152)}
    expected |= {f"{se}resnet{d}" for se in ("", "se") for d in (20, 32, 44, 56, 110)}
    assert set(VISION) == expected
    assert zoo.list_models("seresnet*", family="seresnet_cifar") == [
        "seresnet110",
        "seresnet20",
        "seresnet32",
        "seresnet44",
        "seresnet56",
    ]


@pytest.mark.parametrize("name", [n for n in VISION if n not in FULL])
def test_every_vision_model_builds_small_with_its_reference_count(name):
    spec = zoo.get_spec(name)
    model = zoo.build(name, input_shape=(32, 32, 3), **small_stem(name))
    out = np.asarray(model(batch((32, 32, 3)), training=False))
    assert out.shape == (2, spec.default_classes)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    check_reference_count(name, model)


@pytest.mark.parametrize("name", FULL)
def test_vision_model_battery(name, tmp_path):
    """Forward shape, a training step that lowers the loss, .keras round trip, notop shapes
    with 1 channel (CIFAR stem, average pooling) and 4 channels (default stem, max pooling)."""
    import keras

    spec = zoo.get_spec(name)
    # Small images take the CIFAR stem; with the ImageNet one a 32x32 input ends as a 1x1
    # map whose batch norm over two images is a step function: no loss to lower.
    knobs = {"dropout": 0.0}  # a deterministic loss before and after the step
    keras.utils.set_random_seed(0)
    model = zoo.build(name, input_shape=(32, 32, 3), stem="cifar", **knobs)
    x, y = batch((32, 32, 3)), np.array([0, 1])
    assert model.output_shape == (None, spec.default_classes)
    check_reference_count(name, model, cifar_stem=True)

    model.compile(
        optimizer=keras.optimizers.SGD(0.001),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,
    )
    first = float(model.train_on_batch(x, y))  # the loss before the update
    second = float(model.train_on_batch(x, y))  # the loss after it, on the same batch
    assert np.isfinite(first) and second < first

    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(
        np.asarray(model(x, training=False)), np.asarray(again(x, training=False)), rtol=1e-5
    )

    gray = zoo.build(name, include_top=False, input_shape=(28, 28, 1), pooling="avg", stem="cifar")
    size = 67 if name == "alexnet" else 32  # the smallest input of the default stem
    four = zoo.build(name, include_top=False, input_shape=(size, size, 4), pooling="max")
    channels = model.get_layer("predictions").kernel.shape[0]
    if spec.family in FLATTEN_HEADS:
        channels = 256 if name == "alexnet" else 512
    assert gray.output_shape == (None, channels)
    assert four.output_shape == (None, channels)
    assert np.asarray(gray(batch((28, 28, 1)))).shape == (2, channels)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)


@pytest.mark.parametrize("name", ["alexnet", "vgg16", "vgg11_bn"])
def test_flatten_head_counts_at_the_paper_input(name):
    """AlexNet and VGG flatten a 6x6 / 7x7 map into fc 4096: their counts need 227 / 224."""
    data = zoo.info(name)
    assert data["trainable_params"] == zoo.get_spec(name).reference["trainable_params"]
    # batch norm's moving mean and variance: 2 per channel of each of vgg11's 8 convolutions
    bn_channels = 64 + 128 + 2 * 256 + 4 * 512
    assert data["non_trainable_params"] == (2 * bn_channels if name.endswith("_bn") else 0)
    if name == "alexnet":
        assert data["input_shape"] == (227, 227, 3)
        # conv1..conv5 at 55, 27, 13, 13, 13 pixels, then fc6 9216x4096, fc7, fc8
        convs = (
            55 * 55 * 11 * 11 * 3 * 96
            + 27 * 27 * 5 * 5 * 96 * 256
            + 13 * 13 * 9 * (256 * 384 + 384 * 384 + 384 * 256)
        )
        assert data["macs"] == convs + 9216 * 4096 + 4096 * 4096 + 4096 * 1000


def test_googlenet_auxiliary_heads_are_optional_training_outputs():
    plain = zoo.build("googlenet", input_shape=(224, 224, 3), include_top=False)
    assert count_params(plain)[0] == 6_998_552 - (1024 * 1000 + 1000)
    model = zoo.build("googlenet", aux_heads=True)
    assert {k: tuple(v.shape) for k, v in model.output.items()} == {
        "main": (None, 1000),
        "aux1": (None, 1000),
        "aux2": (None, 1000),
    }
    # each head: 1x1 conv to 128 (+bias), fc 4x4x128 -> 1024, fc 1024 -> 1000 (Szegedy et al.)
    head = 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    aux = (512 * 128 + 128 + head) + (528 * 128 + 128 + head)
    assert count_params(model)[0] == 6_998_552 + aux
    assert {"inception4a_5x5_conv", "aux1_predictions", "aux2_fc"} <= {
        layer.name for layer in model.layers
    }


def test_googlenet_trains_its_auxiliary_heads_and_drops_them_for_export(tmp_path):
    """Paper section 6: auxiliary losses weighted by 0.3, the heads discarded at inference."""
    import keras
    import tensorflow as tf

    from zoo.models.googlenet import AUX_LOSS_WEIGHTS, aux_targets, without_aux_heads

    keras.utils.set_random_seed(0)
    kw = dict(input_shape=(32, 32, 3), stem="cifar", classes=4, dropout=0.0)
    model = zoo.build("googlenet", aux_heads=True, **kw)
    assert AUX_LOSS_WEIGHTS == {"main": 1.0, "aux1": 0.3, "aux2": 0.3}
    loss = "sparse_categorical_crossentropy"
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss={k: loss for k in AUX_LOSS_WEIGHTS},
        loss_weights=AUX_LOSS_WEIGHTS,
        metrics={"main": ["accuracy"]},
    )
    x, y = batch((32, 32, 3)), np.array([0, 3])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2).map(aux_targets)
    history = model.fit(data, epochs=1, verbose=0).history
    assert {"loss", "main_loss", "aux1_loss", "aux2_loss", "main_accuracy"} <= set(history)
    total = history["main_loss"][0] + 0.3 * (history["aux1_loss"][0] + history["aux2_loss"][0])
    assert history["loss"][0] == pytest.approx(total, rel=1e-4)

    plain = without_aux_heads(model)
    assert plain.output_shape == (None, 4)
    assert count_params(plain)[0] == count_params(zoo.build("googlenet", **kw))[0]
    np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(model(x)["main"]), rtol=1e-6)
    assert without_aux_heads(plain) is plain
    path = tmp_path / "googlenet.keras"
    plain.save(path)
    np.testing.assert_allclose(
        np.asarray(keras.saving.load_model(path)(x)), np.asarray(plain(x)), rtol=1e-5
    )


def test_squeeze_excitation_is_a_hook_of_the_residual_block():
    """seresnet20 is resnet20 with se_ratio=16: same network, 2C^2/16 + C/16 + C more per block."""
    plain = zoo.build("resnet20")
    hooked = zoo.build("resnet20", se_ratio=16)
    se = zoo.build("seresnet20")
    per_block = {c: 2 * c * (c // 16) + c // 16 + c for c in (16, 32, 64)}
    extra = 3 * sum(per_block.values())
    assert count_params(hooked)[0] == count_params(se)[0] == 269_722 + extra
    assert [layer.name for layer in hooked.layers] == [
        layer.name.replace("seresnet20", "resnet20") for layer in se.layers
    ]
    assert hooked.get_layer("conv4_block3_se_reduce").kernel.shape == (64, 4)
    assert "conv2_block1_se_reduce" not in {layer.name for layer in plain.layers}
    # zoo info counts the SE dense layers: 2 C^2 / 16 multiply-adds per block
    assert count_macs(se) - count_macs(plain) == 3 * sum(2 * c * (c // 16) for c in (16, 32, 64))


def test_cnn_has_an_se_ratio():
    base = dict(input_shape=(8, 8, 1), classes=10, filters=[8], dense_units=[])
    plain = count_params(zoo.build("cnn", **base))[0]
    model = zoo.build("cnn", se_ratio=4, **base)
    assert count_params(model)[0] - plain == (8 * 2 + 2) + (2 * 8 + 8)
    assert model.get_layer("block1_se_excite") is not None


def test_option_a_shortcut_subsamples_and_zero_pads_channels():
    import keras

    from zoo.models.blocks import zero_pad_shortcut

    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, zero_pad_shortcut(inputs, 6, 2, name="s"))
    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    expected = np.pad(x[:, ::2, ::2, :], ((0, 0), (0, 0), (0, 0), (2, 2)))
    np.testing.assert_array_equal(np.asarray(model(x)), expected)
    assert model.count_params() == 0


def test_local_response_normalisation_matches_the_paper_formula():
    from zoo.models.layers import LocalResponseNormalization

    x = np.random.default_rng(1).normal(size=(1, 2, 2, 7)).astype("float32")
    out = np.asarray(LocalResponseNormalization(size=5, alpha=1e-2, beta=0.75, bias=2.0)(x))
    sq = np.pad(x**2, ((0, 0), (0, 0), (0, 0), (2, 2)))
    window = np.stack([sq[..., c : c + 5].sum(-1) for c in range(7)], axis=-1)
    np.testing.assert_allclose(out, x / (2.0 + 1e-2 * window) ** 0.75, rtol=1e-5)


@pytest.mark.parametrize(
    "name, shape, match",
    [
        ("alexnet", (32, 32, 3), "alexnet: a 32x32 input is too small for the 'imagenet' stem"),
        ("vgg11", (28, 28, 1), "use an input of at least 32x32 or stem='cifar'"),
        ("resnet18", (16, 16, 3), r"stage 5's first block gets a 1x1 feature map"),
        ("resnet20", (2, 2, 3), "at least 3x3"),
    ],
)
def test_too_small_for_the_stem_is_one_sentence(name, shape, match):
    with pytest.raises(ShapeError, match=match) as err:
        zoo.build(name, input_shape=shape)
    first = str(err.value).splitlines()[0]
    assert first.count(". ") == 0 and first.endswith(".")


def test_bad_knobs_are_config_errors():
    with pytest.raises(ConfigError, match="stem must be one of 'imagenet', 'cifar'"):
        zoo.build("resnet20", stem="tiny")
    with pytest.raises(ConfigError, match="shortcut"):
        zoo.build("resnet20", shortcut="option_c")
    with pytest.raises(ConfigError, match="width_multiplier"):
        zoo.build("resnet20", width_multiplier=0)
    with pytest.raises(ConfigError, match="stride_at must be one of '3x3', '1x1'"):
        zoo.build("resnet50", stride_at="2x2")


def test_stride_at_1x1_is_keras_applications_layout():
    """The paper's Caffe layout (stride in a bottleneck's first 1x1 conv) does the work of
    keras.applications' ResNet50 exactly; torchvision's (stride in the 3x3) does more:
    4.09 against 3.86 billion multiply-adds at 224x224 (torchvision's model card)."""
    import keras

    shape = (64, 64, 3)
    paper = zoo.build("resnet50", input_shape=shape, classes=10, stride_at="1x1")
    torchvision = zoo.build("resnet50", input_shape=shape, classes=10)
    peer = keras.applications.ResNet50(weights=None, input_shape=shape, classes=10)
    assert count_macs(paper) == count_macs(peer) < count_macs(torchvision)
    assert count_params(paper) == count_params(torchvision)
    assert paper.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert paper.get_layer("conv3_block1_2_conv").strides == (1, 1)


def test_gin_knobs_and_width_multiplier():
    import gin

    gin.parse_config(["resnet20.width_multiplier = 0.5", "resnet20.stem = 'cifar'"])
    model = zoo.build("resnet20", input_shape=(28, 28, 1))
    assert model.get_layer("conv4_block3_2_conv").kernel.shape == (3, 3, 32, 32)
    gin.parse_config("vgg11_bn.fc_units = [32]")
    vgg = zoo.build("vgg11_bn", input_shape=(28, 28, 1), stem="cifar", classes=10)
    assert vgg.get_layer("fc1").kernel.shape == (512, 32)
    assert "fc2" not in {layer.name for layer in vgg.layers}


def test_zoo_info_prints_the_reference(capsys):
    from zoo.cli import main

    assert main(["info", "resnet20"]) == 0
    out = capsys.readouterr().out
    assert "269,722 trainable" in out and "reference     trainable_params: 269,722" in out
    assert "He, Zhang, Ren & Sun 2016" in out and "mult-adds" in out


def test_zoo_info_says_in_one_line_when_the_input_is_too_small(capsys):
    from zoo.cli import main

    assert main(["info", "alexnet", "--input-shape", "32,32,3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "zoo: error: alexnet: a 32x32 input is too small for the 'imagenet' stem (pool2 (3x3/2) "
        "gets a 2x2 feature map); use an input of at least 67x67 or stem='cifar' for small images."
    ]


def test_weights_argument_loads_a_saved_model_with_lrn_layers(tmp_path):
    kw = dict(input_shape=(28, 28, 1), classes=4, stem="cifar", fc_units=[16])
    model = zoo.build("alexnet", **kw)
    assert model.get_layer("norm1").get_config()["bias"] == 2.0  # the paper's k
    path = tmp_path / "alexnet.keras"
    model.save(path)
    again = zoo.build("alexnet", weights=str(path), **kw)
    x = batch((28, 28, 1))
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(again(x)), rtol=1e-6)
