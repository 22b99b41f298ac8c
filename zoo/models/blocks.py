"""Building blocks of the vision zoo: plain functions ``block(x, ..., name=...) -> x``.

Every layer gets a deterministic hierarchical name built from ``name`` (keras.applications'
convention: ``conv3_block2_1_conv``), so that stages can be frozen by prefix and summaries
read easily. No Lambda layers: every model made of these blocks saves to ``.keras``.
Squeeze-and-excitation is an attention hook of the residual blocks (``se_ratio``), not a
separate block family (timm's ``attn_layer`` idea).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from zoo._lazy import layers
from zoo.errors import ConfigError, ShapeError

BN_EPSILON = 1e-5  # torchvision's BatchNorm2d defaults: eps 1e-5, momentum 0.1 (= Keras 0.9)
BN_MOMENTUM = 0.9
SHORTCUTS = ("projection", "zero_pad")
STEMS = ("imagenet", "cifar")


# ---- input-size checks ----------------------------------------------------------------------


def _out_size(size: int, kernel: int, stride: int, padding: str) -> int:
    """Spatial size after one window; 0 when the window no longer fits.

    With 'same' padding a strided window on a 1x1 map cannot downsample anything: counted
    as too small too, so that an input shrunk to a single pixel before the last stage is
    reported rather than silently padded.
    """
    if padding == "same":
        return 0 if (stride > 1 and size < 2) else math.ceil(size / stride)
    return (size - kernel) // stride + 1 if size >= kernel else 0


def _walk(size: int, plan: Sequence[tuple]) -> tuple[int, str | None, int]:
    """Follow one spatial dimension through ``plan``; return (size, failing step, its input)."""
    for label, kernel, stride, padding in plan:
        new = _out_size(size, kernel, stride, padding)
        if new <= 0:
            return 0, label, size
        size = new
    return size, None, size


def min_input_size(plan: Sequence[tuple], limit: int = 4096) -> int:
    """The smallest square input that survives every window of ``plan``."""
    for size in range(1, limit + 1):
        if _walk(size, plan)[1] is None:
            return size
    return limit


def check_input_size(hw: Sequence[int | None], plan: Sequence[tuple], *, model: str, stem: str):
    """Raise one ShapeError sentence when the input is too small for ``plan`` (the stem's path).

    ``plan`` lists ``(label, kernel, stride, padding)`` for every window that changes the
    spatial size, in order.
    """
    for size in hw:
        if size is None:
            continue
        _, label, got = _walk(int(size), plan)
        if label is not None:
            shown = "x".join("?" if d is None else str(d) for d in hw)
            need = min_input_size(plan)
            hint = " or stem='cifar' for small images" if stem == "imagenet" else ""
            raise ShapeError(
                f"{model}: a {shown} input is too small for the '{stem}' stem ({label} gets a "
                f"{got}x{got} feature map); use an input of at least {need}x{need}{hint}."
            )


def check_choice(value, choices: Sequence, what: str, model: str) -> None:
    """ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{model}: {what} must be one of {listed}, not {value!r}.")


# ---- small pieces --------------------------------------------------------------------------


def batch_norm(x, name: str):
    """BatchNormalization with torchvision's epsilon and momentum."""
    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)(x)


def lrn(x, name: str, *, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, bias: float = 2.0):
    """Local response normalisation across channels (AlexNet section 3.3; GoogLeNet's stem)."""
    from zoo.models.layers import LocalResponseNormalization

    return LocalResponseNormalization(size=size, alpha=alpha, beta=beta, bias=bias, name=name)(x)


def conv_bn_relu(
    x,
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    name: str,
    relu: bool = True,
):
    """Conv (no bias) -> BN -> [ReLU], padded like torchvision (``k // 2`` on every side).

    A strided convolution gets an explicit symmetric ZeroPadding2D (as keras.applications
    does) so that outputs align with the PyTorch reference; stride 1 uses 'same'.
    """
    if strides > 1 and kernel_size > 1:
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=f"{name}_conv"
    )(x)
    x = batch_norm(x, f"{name}_bn")
    if relu:
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return x


def squeeze_excite(x, ratio: int, *, name: str):
    """Squeeze-and-excitation (Hu et al. 2018): rescale channels by a gate from global context.

    Squeeze: global average pooling; excitation: Dense(C / ratio, relu) -> Dense(C, sigmoid);
    the gate multiplies ``x`` channel-wise. Adds ``2 C^2 / ratio + C / ratio + C`` parameters.
    """
    channels = int(x.shape[-1])
    reduced = max(1, channels // int(ratio))
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
    s = layers.Dense(reduced, activation="relu", name=f"{name}_se_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_se_expand")(s)
    return layers.Multiply(name=f"{name}_se_excite")([x, s])


def zero_pad_shortcut(x, filters: int, stride: int, *, name: str):
    """He et al. 2016's option A: subsample by ``stride`` and zero-pad the new channels.

    No parameters. Subsampling is a 1x1 max pooling with a stride (``x[:, ::2, ::2]``); the
    channels are padded on both sides (as the usual CIFAR reference code does) with a
    Permute / ZeroPadding2D / Permute sandwich, which keeps the model free of Lambda layers.
    """
    if stride > 1:
        x = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_subsample")(x)
    extra = filters - int(x.shape[-1])
    if extra > 0:
        x = layers.Permute((3, 1, 2), name=f"{name}_0_to_channels_first")(x)
        x = layers.ZeroPadding2D(((extra // 2, extra - extra // 2), (0, 0)), name=f"{name}_0_pad")(
            x
        )
        x = layers.Permute((2, 3, 1), name=f"{name}_0_to_channels_last")(x)
    return x


def _shortcut(x, filters: int, stride: int, shortcut: str, *, name: str):
    if stride == 1 and int(x.shape[-1]) == filters:
        return x
    if shortcut == "zero_pad":
        return zero_pad_shortcut(x, filters, stride, name=name)
    x = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_0_conv")(x)
    return batch_norm(x, f"{name}_0_bn")


# ---- residual blocks -----------------------------------------------------------------------


def basic_block(
    x,
    filters: int,
    *,
    stride: int = 1,
    shortcut: str = "projection",
    se_ratio: int | None = None,
    name: str,
):
    """ResNet basic block: 3x3 -> 3x3, [SE on the residual branch], add, ReLU (expansion 1)."""
    short = _shortcut(x, filters, stride, shortcut, name=name)
    y = conv_bn_relu(x, filters, 3, strides=stride, name=f"{name}_1")
    y = conv_bn_relu(y, filters, 3, name=f"{name}_2", relu=False)
    if se_ratio:
        y = squeeze_excite(y, se_ratio, name=name)
    y = layers.Add(name=f"{name}_add")([short, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def bottleneck_block(
    x,
    filters: int,
    *,
    stride: int = 1,
    shortcut: str = "projection",
    se_ratio: int | None = None,
    stride_at: str = "3x3",
    name: str,
):
    """ResNet bottleneck: 1x1 -> 3x3 -> 1x1 x4, [SE], add, ReLU.

    ``stride_at='3x3'`` (torchvision's "ResNet v1.5") downsamples in the 3x3 conv;
    ``stride_at='1x1'`` in the first 1x1 conv, as the paper's Caffe models and
    keras.applications do: about 6% fewer multiply-adds for ResNet-50, and a little less
    accurate on ImageNet."""
    out = 4 * filters
    short = _shortcut(x, out, stride, shortcut, name=name)
    first, second = (1, stride) if stride_at == "3x3" else (stride, 1)
    y = conv_bn_relu(x, filters, 1, strides=first, name=f"{name}_1")
    y = conv_bn_relu(y, filters, 3, strides=second, name=f"{name}_2")
    y = conv_bn_relu(y, out, 1, name=f"{name}_3", relu=False)
    if se_ratio:
        y = squeeze_excite(y, se_ratio, name=name)
    y = layers.Add(name=f"{name}_add")([short, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


RESIDUAL_BLOCKS = {"basic": (basic_block, 1), "bottleneck": (bottleneck_block, 4)}
STRIDE_AT = ("3x3", "1x1")


def residual_stage(
    x,
    filters: int,
    blocks: int,
    *,
    block: str = "basic",
    stride: int = 2,
    shortcut: str = "projection",
    se_ratio: int | None = None,
    stride_at: str = "3x3",
    name: str,
):
    """``blocks`` residual blocks; the first one carries ``stride`` (``conv3_block1`` ...).
    ``stride_at`` places it within a bottleneck block (a basic block has one choice)."""
    fn, _ = RESIDUAL_BLOCKS[block]
    extra = {"stride_at": stride_at} if block == "bottleneck" else {}
    for i in range(1, blocks + 1):
        x = fn(
            x,
            filters,
            stride=stride if i == 1 else 1,
            shortcut=shortcut,
            se_ratio=se_ratio,
            name=f"{name}_block{i}",
            **extra,
        )
    return x


# ---- inception -----------------------------------------------------------------------------


def conv_relu(x, filters: int, kernel_size: int, *, strides: int = 1, name: str):
    """Conv (with bias, 'same' padding) -> ReLU: the pre-batch-norm conv of AlexNet, GoogLeNet."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", name=f"{name}_conv")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def inception_module(
    x,
    filters_1x1: int,
    filters_3x3_reduce: int,
    filters_3x3: int,
    filters_5x5_reduce: int,
    filters_5x5: int,
    pool_proj: int,
    *,
    name: str,
):
    """Inception module of Szegedy et al. 2015 (Table 1's six columns), concatenated.

    Branches: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5 (a true 5x5); 3x3/1 max pool -> 1x1
    projection. Every convolution has a bias and a ReLU.
    """
    b1 = conv_relu(x, filters_1x1, 1, name=f"{name}_1x1")
    b2 = conv_relu(x, filters_3x3_reduce, 1, name=f"{name}_3x3_reduce")
    b2 = conv_relu(b2, filters_3x3, 3, name=f"{name}_3x3")
    b3 = conv_relu(x, filters_5x5_reduce, 1, name=f"{name}_5x5_reduce")
    b3 = conv_relu(b3, filters_5x5, 5, name=f"{name}_5x5")
    b4 = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    b4 = conv_relu(b4, pool_proj, 1, name=f"{name}_pool_proj")
    return layers.Concatenate(name=f"{name}_concat")([b1, b2, b3, b4])


def inception_aux_head(x, classes: int, classifier_activation, *, name: str):
    """GoogLeNet's auxiliary classifier (training only): 5x5/3 average pool, 1x1 conv 128,
    fc 1024, dropout 0.7, a linear layer to ``classes``."""
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_relu(x, 128, 1, name=f"{name}")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return layers.Dense(
        classes, activation=classifier_activation, dtype="float32", name=f"{name}_predictions"
    )(x)
