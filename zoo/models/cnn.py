"""The configurable CNN of the course, and the MLP it is compared with.

``cnn`` is a stack of conv blocks (convolutions, optional batch norm, activation, pooling,
dropout), optional 1x1 convolutions, a named bridge to the head (``flatten``,
``global_avg``, ``global_max``) and a dense head; ``se_ratio`` adds squeeze-and-excitation
(Hu et al. 2018) to every conv block. Every knob is a gin parameter, e.g.
``cnn.filters = [32, 64, 128]`` or ``cnn.padding = 'valid'``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from zoo._lazy import layers
from zoo.errors import ConfigError, ShapeError
from zoo.models.blocks import squeeze_excite
from zoo.models.common import (
    check_pooling,
    check_top,
    classifier,
    dense_stack,
    finish,
    model_input,
)
from zoo.models.registry import register

BRIDGES = ("flatten", "global_avg", "global_max")
POOLS = ("max", "avg", None)


def per_block(value, n: int, what: str) -> list:
    """Broadcast a scalar knob to ``n`` blocks, or check that a list has ``n`` entries."""
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ConfigError(f"cnn: {what} has {len(value)} entries but there are {n} blocks.")
        return list(value)
    return [value] * n


def conv_output_size(size: int | None, kernel: int, stride: int, padding: str) -> int | None:
    """Spatial size after a convolution or pooling window (Keras' rule)."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1 if size >= kernel else 0


def _fmt(hw) -> str:
    return "x".join("?" if d is None else str(d) for d in hw)


def conv_block(
    x,
    filters: int,
    *,
    kernel_size: int = 3,
    strides: int = 1,
    padding: str = "same",
    activation: str = "relu",
    batch_norm: bool = True,
    batch_norm_momentum: float = 0.99,
    batch_norm_scale: bool = True,
    convs: int = 1,
    pool: str | None = "max",
    pool_size: int = 2,
    dropout: float = 0.0,
    se_ratio: int | None = None,
    name: str,
):
    """``convs`` x (conv -> [batch norm] -> activation), [squeeze-excite], [pool], [dropout]."""
    for j in range(1, convs + 1):
        stride = strides if j == 1 else 1
        x = layers.Conv2D(
            filters,
            kernel_size,
            strides=stride,
            padding=padding,
            use_bias=not batch_norm,
            name=f"{name}_conv{j}",
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(
                momentum=batch_norm_momentum, scale=batch_norm_scale, name=f"{name}_bn{j}"
            )(x)
        x = layers.Activation(activation, name=f"{name}_{activation}{j}")(x)
    if se_ratio:
        x = squeeze_excite(x, se_ratio, name=name)
    if pool == "max":
        x = layers.MaxPooling2D(pool_size, name=f"{name}_pool")(x)
    elif pool == "avg":
        x = layers.AveragePooling2D(pool_size, name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def check_shapes(
    hw: Sequence[int | None],
    *,
    kernel_sizes,
    strides,
    paddings,
    convs,
    pools,
    pool_sizes,
    model_name: str = "cnn",
) -> list[tuple]:
    """Follow the feature-map size through the blocks; raise ShapeError where it hits zero.

    Returns the (height, width) after each block.
    """
    h, w = hw
    sizes = []
    for i in range(len(kernel_sizes)):
        for j in range(convs[i]):
            stride = strides[i] if j == 0 else 1
            nh = conv_output_size(h, kernel_sizes[i], stride, paddings[i])
            nw = conv_output_size(w, kernel_sizes[i], stride, paddings[i])
            if nh == 0 or nw == 0:
                raise ShapeError(
                    f"{model_name}: block {i + 1} conv {j + 1} ({kernel_sizes[i]}x{kernel_sizes[i]}, "
                    f"stride {stride}, padding '{paddings[i]}') gets a {_fmt((h, w))} feature map "
                    f"from the {_fmt(hw)} input and would shrink it to nothing; use a larger "
                    "input, padding='same', a smaller kernel or fewer blocks."
                )
            h, w = nh, nw
        if pools[i] is not None:
            p = pool_sizes[i]
            nh = conv_output_size(h, p, p, "valid")
            nw = conv_output_size(w, p, p, "valid")
            if nh == 0 or nw == 0:
                raise ShapeError(
                    f"{model_name}: block {i + 1}'s {pools[i]} pooling (size {p}) gets a "
                    f"{_fmt((h, w))} feature map from the {_fmt(hw)} input and would shrink it to "
                    "nothing; use a larger input, fewer blocks, or pool=None for the last blocks."
                )
            h, w = nh, nw
        sizes.append((h, w))
    return sizes


@register(
    "cnn",
    family="cnn",
    default_input=(28, 28, 1),
    default_classes=10,
    paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
)
def cnn(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "cnn",
    filters: Sequence[int] = (32, 64),
    kernel_size: int | Sequence[int] = 3,
    strides: int | Sequence[int] = 1,
    padding: str | Sequence[str] = "same",
    activation: str = "relu",
    batch_norm: bool = True,
    batch_norm_momentum: float = 0.99,
    batch_norm_scale: bool = True,
    whiten: int | None = None,
    convs_per_block: int | Sequence[int] = 1,
    pool: str | None | Sequence[str | None] = "max",
    pool_size: int | Sequence[int] = 2,
    block_dropout: float | Sequence[float] = 0.0,
    pointwise_filters: int | None = None,
    se_ratio: int | None = None,
    bridge: str = "flatten",
    dense_units: Sequence[int] = (128,),
    dense_dropout: float = 0.5,
):
    """Configurable CNN: conv blocks, optional 1x1 convolutions, a named bridge, a dense head.

    ``batch_norm_scale = False`` drops batch norm's trainable scale (gamma), keeping its
    shift: a ReLU after it is scale-free, so the scale adds parameters, not capacity (as in
    airbench, Jordan 2024). ``whiten = k`` puts a frozen patch-whitening convolution of
    ``k`` x ``k`` patches before the first block (:class:`zoo.models.layers.PatchWhitening`),
    which a run computes from its first training batch.
    """
    check_pooling(pooling, name)
    check_top(include_top, weights, classes, name)
    if bridge not in BRIDGES:
        raise ConfigError(f"cnn: bridge must be one of {', '.join(BRIDGES)}, not {bridge!r}.")
    n = len(filters)
    kernel_sizes = per_block(kernel_size, n, "kernel_size")
    strides_ = per_block(strides, n, "strides")
    paddings = per_block(padding, n, "padding")
    convs = per_block(convs_per_block, n, "convs_per_block")
    pools = [None if p in (None, "none") else p for p in per_block(pool, n, "pool")]
    pool_sizes = per_block(pool_size, n, "pool_size")
    dropouts = per_block(block_dropout, n, "block_dropout")
    for p in pools:
        if p not in POOLS:
            raise ConfigError(f"cnn: pool must be 'max', 'avg' or None, not {p!r}.")
    for p in paddings:
        if p not in ("same", "valid"):
            raise ConfigError(f"cnn: padding must be 'same' or 'valid', not {p!r}.")

    img_input = model_input(input_tensor, input_shape, (28, 28, 1), name)
    if len(img_input.shape) != 4:
        raise ShapeError(
            f"{name}: expects images of shape (height, width, channels), got {tuple(img_input.shape[1:])}."
        )
    check_shapes(
        img_input.shape[1:3],
        kernel_sizes=kernel_sizes,
        strides=strides_,
        paddings=paddings,
        convs=convs,
        pools=pools,
        pool_sizes=pool_sizes,
        model_name=name,
    )
    x = img_input
    if whiten:
        if isinstance(whiten, bool) or not isinstance(whiten, int) or not 1 <= whiten <= 7:
            raise ConfigError(
                f"cnn: whiten must be None or a patch size from 1 to 7, not {whiten!r}."
            )
        from zoo.models.layers import PatchWhitening

        x = PatchWhitening(whiten, name="whiten")(x)
        x = layers.Activation(activation, name=f"whiten_{activation}")(x)
    for i, f in enumerate(filters):
        x = conv_block(
            x,
            int(f),
            kernel_size=kernel_sizes[i],
            strides=strides_[i],
            padding=paddings[i],
            activation=activation,
            batch_norm=batch_norm,
            batch_norm_momentum=batch_norm_momentum,
            batch_norm_scale=batch_norm_scale,
            convs=convs[i],
            pool=pools[i],
            pool_size=pool_sizes[i],
            dropout=dropouts[i],
            se_ratio=se_ratio,
            name=f"block{i + 1}",
        )
    if pointwise_filters:
        x = layers.Conv2D(pointwise_filters, 1, use_bias=not batch_norm, name="pointwise_conv")(x)
        if batch_norm:
            x = layers.BatchNormalization(
                momentum=batch_norm_momentum, scale=batch_norm_scale, name="pointwise_bn"
            )(x)
        x = layers.Activation(activation, name=f"pointwise_{activation}")(x)

    if include_top:
        if bridge == "flatten":
            x = layers.Flatten(name="flatten")(x)
        elif bridge == "global_avg":
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        else:
            x = layers.GlobalMaxPooling2D(name="max_pool")(x)
        x = dense_stack(x, dense_units, dropout=dense_dropout, activation=activation)
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return finish(img_input, x, input_tensor=input_tensor, name=name, weights=weights)


@register(
    "mlp",
    family="mlp",
    default_input=(28, 28, 1),
    default_classes=10,
    paper="Rumelhart, Hinton & Williams 1986, Learning representations by back-propagating errors",
)
def mlp(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "mlp",
    units: Sequence[int] = (256, 128),
    activation: str = "relu",
    dropout: float = 0.2,
    batch_norm: bool = False,
):
    """Dense network on flattened pixels: the baseline that motivates convolutions."""
    check_top(include_top, weights, classes, name)
    inputs = model_input(input_tensor, input_shape, (28, 28, 1), name)
    x = layers.Flatten(name="flatten")(inputs)
    for k, n_units in enumerate(units, start=1):
        x = layers.Dense(n_units, use_bias=not batch_norm, name=f"fc{k}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"fc{k}_bn")(x)
        x = layers.Activation(activation, name=f"fc{k}_{activation}")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"fc{k}_dropout")(x)
    if include_top:
        x = layers.Dense(
            classes, activation=classifier_activation, dtype="float32", name="predictions"
        )(x)
    return finish(inputs, x, input_tensor=input_tensor, name=name, weights=weights)
