"""ResNets (He et al. 2016) for ImageNet and CIFAR, and SE-ResNets (Hu et al. 2018).

One generic builder, :func:`resnet`, owns the stem, the stages and the head; each registered
name (``def resnet50``, ``def resnet20``, ``def seresnet50``, ...) is defined below as a thin
wrapper that supplies its block type and blocks per stage (keras.applications' pattern).
Squeeze-and-excitation is the ``se_ratio`` argument of the residual block: ``seresnet50`` is
``resnet50`` with ``se_ratio=16``, and ``resnet50.se_ratio = 16`` in a recipe gives the same
network.

- ImageNet ResNets follow torchvision (no conv bias before batch norm, stride on the 3x3
  conv, projection shortcuts): ``resnet18`` has 11,689,512 and ``resnet50`` 25,557,032
  trainable parameters at 224x224x3 with 1000 classes. ``stride_at='1x1'`` moves a
  bottleneck's stride to its first 1x1 conv, as in the paper's Caffe models and
  keras.applications (ResNet-50: 3.86 instead of 4.09 billion multiply-adds).
- CIFAR ResNets follow section 4.2 of the paper (6n+2 layers, 16-32-64 filters, identity
  shortcuts with zero padding, "option A"): ``resnet20`` has 269,722 and ``resnet56`` 853,018
  trainable parameters with 10 classes.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo._lazy import layers
from zoo.errors import ConfigError
from zoo.models.blocks import (
    RESIDUAL_BLOCKS,
    SHORTCUTS,
    STEMS,
    STRIDE_AT,
    batch_norm,
    check_choice,
    check_input_size,
    residual_stage,
)
from zoo.models.common import check_pooling, check_top, classifier, finish, model_input
from zoo.models.registry import register

RESNET_PAPER = "He, Zhang, Ren & Sun 2016, Deep Residual Learning for Image Recognition"
SENET_PAPER = "Hu, Shen & Sun 2018, Squeeze-and-Excitation Networks"


def _plan(stem: str, stages: int) -> list[tuple]:
    """The windows that change the spatial size, for the input-size check."""
    plan = (
        [("the 7x7/2 stem conv", 7, 2, "same"), ("the stem's 3x3/2 max pool", 3, 2, "same")]
        if stem == "imagenet"
        else []
    )
    plan += [(f"stage {i + 2}'s first block", 3, 2, "same") for i in range(1, stages)]
    return plan


def resnet(
    *,
    block: str,
    blocks_per_stage: Sequence[int],
    filters_per_stage: Sequence[int],
    stem: str,
    stem_filters: int,
    shortcut: str,
    se_ratio: int | None,
    width_multiplier: float,
    dropout: float,
    include_top: bool,
    weights: str | None,
    input_tensor,
    input_shape,
    pooling: str | None,
    classes: int,
    classifier_activation,
    name: str,
    default_input: Sequence[int],
    stride_at: str = "3x3",
):
    """Build a ResNet: stem -> stages of residual blocks -> head.

    ``stem='imagenet'``: 7x7/2 conv, BN, ReLU, 3x3/2 max pool (for 224x224 inputs);
    ``stem='cifar'``: a 3x3/1 conv, BN, ReLU, no pooling (for 28x28 or 32x32 inputs). The first
    stage keeps the resolution, every later stage halves it in its first block.
    """
    check_pooling(pooling, name)
    check_top(include_top, weights, classes, name)
    check_choice(stem, STEMS, "stem", name)
    check_choice(shortcut, SHORTCUTS, "shortcut", name)
    check_choice(block, tuple(RESIDUAL_BLOCKS), "block", name)
    check_choice(stride_at, STRIDE_AT, "stride_at", name)
    if se_ratio is not None and se_ratio < 0:
        raise ConfigError(f"{name}: se_ratio must be a positive ratio such as 16, or None.")
    if width_multiplier <= 0:
        raise ConfigError(f"{name}: width_multiplier must be positive, not {width_multiplier}.")

    def width(f: int) -> int:
        return max(1, int(round(f * width_multiplier)))

    img_input = model_input(input_tensor, input_shape, default_input, name)
    check_input_size(
        img_input.shape[1:3], _plan(stem, len(blocks_per_stage)), model=name, stem=stem
    )
    x = img_input
    if stem == "imagenet":
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(width(stem_filters), 7, strides=2, use_bias=False, name="conv1_conv")(x)
        x = batch_norm(x, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    else:
        x = layers.Conv2D(
            width(stem_filters), 3, padding="same", use_bias=False, name="conv1_conv"
        )(x)
        x = batch_norm(x, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
    for i, (filters, blocks) in enumerate(zip(filters_per_stage, blocks_per_stage, strict=True)):
        x = residual_stage(
            x,
            width(filters),
            blocks,
            block=block,
            stride=1 if i == 0 else 2,
            shortcut=shortcut,
            se_ratio=se_ratio,
            stride_at=stride_at,
            name=f"conv{i + 2}",
        )
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    return finish(img_input, x, input_tensor=input_tensor, name=name, weights=weights)


# name: (block, blocks per stage, torchvision's params, paper's multiply-adds (Table 1),
# torchvision's multiply-adds). The paper's bottleneck counts put the stride on the first
# 1x1 conv; with the stride on the 3x3 conv (torchvision, here) they are a little higher.
IMAGENET_VARIANTS = {
    "resnet18": ("basic", (2, 2, 2, 2), 11_689_512, "1.8 billion", "1.81 billion"),
    "resnet34": ("basic", (3, 4, 6, 3), 21_797_672, "3.6 billion", "3.66 billion"),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 25_557_032, "3.8 billion", "4.09 billion"),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 44_549_160, "7.6 billion", "7.80 billion"),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 60_192_808, "11.3 billion", "11.51 billion"),
}
# name: (n blocks per stage, 6n+2 layers; reference params of the paper's Table 6)
CIFAR_VARIANTS = {
    "resnet20": (3, "0.27M"),
    "resnet32": (5, "0.46M"),
    "resnet44": (7, "0.66M"),
    "resnet56": (9, "0.85M"),
    "resnet110": (18, "1.7M"),
}
# exact counts this implementation reproduces and the tests assert
EXACT_CIFAR_PARAMS = {"resnet20": 269_722, "resnet56": 853_018}
# timm's seresnet50 (SE ratio 16, the SE reduction is C // 16 for every ResNet-50 stage)
EXACT_SE_PARAMS = {"seresnet50": 28_088_024}


def _imagenet_reference(model: str) -> dict:
    _, _, params, macs, tv_macs = IMAGENET_VARIANTS[model]
    return {
        "trainable_params": params,
        "paper_multiply_adds": macs,
        "torchvision_multiply_adds": tv_macs,
        "source": f"torchvision {model}; paper Table 1",
    }


def _cifar_reference(model: str) -> dict:
    reference = {"paper_params": CIFAR_VARIANTS[model][1], "source": "paper Table 6 (CIFAR-10)"}
    if model in EXACT_CIFAR_PARAMS:
        reference = {"trainable_params": EXACT_CIFAR_PARAMS[model], **reference}
    return reference


SE_REFERENCE = {
    "trainable_params": EXACT_SE_PARAMS["seresnet50"],
    "paper_multiply_adds": "3.87 billion",
    "source": "timm seresnet50 parameter count; SENet paper Table 2",
}


def imagenet_resnet(block: str, blocks_per_stage: Sequence[int], **arguments):
    """An ImageNet-layout ResNet (64-128-256-512 filters) from a registered builder's arguments."""
    return resnet(
        block=block,
        blocks_per_stage=blocks_per_stage,
        filters_per_stage=(64, 128, 256, 512),
        stem_filters=64,
        default_input=(224, 224, 3),
        **arguments,
    )


def cifar_resnet(n: int, **arguments):
    """A CIFAR ResNet (6n+2 layers, 16-32-64 filters) from a registered builder's arguments."""
    return resnet(
        block="basic",
        blocks_per_stage=(n, n, n),
        filters_per_stage=(16, 32, 64),
        stem_filters=16,
        default_input=(32, 32, 3),
        **arguments,
    )


# Each builder below passes its own arguments on with **locals() (called first, it holds
# exactly the arguments): the signatures stay explicit for gin, help() and keras.applications
# users, and the bodies stay one line.


# -- ImageNet ResNets (torchvision's layout) -------------------------------------------------------


@register(
    "resnet18",
    family="resnet",
    default_input=(224, 224, 3),
    paper=RESNET_PAPER,
    reference=_imagenet_reference("resnet18"),
)
def resnet18(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "resnet18",
    stem: str = "imagenet",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
):
    """ResNet-18 (basic blocks 2-2-2-2), ImageNet layout."""
    return imagenet_resnet("basic", (2, 2, 2, 2), **locals())


@register(
    "resnet34",
    family="resnet",
    default_input=(224, 224, 3),
    paper=RESNET_PAPER,
    reference=_imagenet_reference("resnet34"),
)
def resnet34(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "resnet34",
    stem: str = "imagenet",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
):
    """ResNet-34 (basic blocks 3-4-6-3), ImageNet layout."""
    return imagenet_resnet("basic", (3, 4, 6, 3), **locals())


@register(
    "resnet50",
    family="resnet",
    default_input=(224, 224, 3),
    paper=RESNET_PAPER,
    reference=_imagenet_reference("resnet50"),
)
def resnet50(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "resnet50",
    stem: str = "imagenet",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
    stride_at: str = "3x3",
):
    """ResNet-50 (bottleneck blocks 3-4-6-3), ImageNet layout."""
    return imagenet_resnet("bottleneck", (3, 4, 6, 3), **locals())


@register(
    "resnet101",
    family="resnet",
    default_input=(224, 224, 3),
    paper=RESNET_PAPER,
    reference=_imagenet_reference("resnet101"),
)
def resnet101(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "resnet101",
    stem: str = "imagenet",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
    stride_at: str = "3x3",
):
    """ResNet-101 (bottleneck blocks 3-4-23-3), ImageNet layout."""
    return imagenet_resnet("bottleneck", (3, 4, 23, 3), **locals())


@register(
    "resnet152",
    family="resnet",
    default_input=(224, 224, 3),
    paper=RESNET_PAPER,
    reference=_imagenet_reference("resnet152"),
)
def resnet152(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "resnet152",
    stem: str = "imagenet",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
    stride_at: str = "3x3",
):
    """ResNet-152 (bottleneck blocks 3-8-36-3), ImageNet layout."""
    return imagenet_resnet("bottleneck", (3, 8, 36, 3), **locals())


# -- SE-ResNets (ImageNet) --------------------------------------------------------------------------


@register(
    "seresnet18",
    family="seresnet",
    default_input=(224, 224, 3),
    paper=SENET_PAPER,
    reference={},
)
def seresnet18(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet18",
    stem: str = "imagenet",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
):
    """SE-ResNet-18: ResNet-18 with squeeze-and-excitation (ratio 16)."""
    return imagenet_resnet("basic", (2, 2, 2, 2), **locals())


@register(
    "seresnet34",
    family="seresnet",
    default_input=(224, 224, 3),
    paper=SENET_PAPER,
    reference={},
)
def seresnet34(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet34",
    stem: str = "imagenet",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
):
    """SE-ResNet-34: ResNet-34 with squeeze-and-excitation (ratio 16)."""
    return imagenet_resnet("basic", (3, 4, 6, 3), **locals())


@register(
    "seresnet50",
    family="seresnet",
    default_input=(224, 224, 3),
    paper=SENET_PAPER,
    reference=SE_REFERENCE,
)
def seresnet50(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet50",
    stem: str = "imagenet",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
    stride_at: str = "3x3",
):
    """SE-ResNet-50: ResNet-50 with squeeze-and-excitation (ratio 16)."""
    return imagenet_resnet("bottleneck", (3, 4, 6, 3), **locals())


@register(
    "seresnet101",
    family="seresnet",
    default_input=(224, 224, 3),
    paper=SENET_PAPER,
    reference={},
)
def seresnet101(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet101",
    stem: str = "imagenet",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
    stride_at: str = "3x3",
):
    """SE-ResNet-101: ResNet-101 with squeeze-and-excitation (ratio 16)."""
    return imagenet_resnet("bottleneck", (3, 4, 23, 3), **locals())


@register(
    "seresnet152",
    family="seresnet",
    default_input=(224, 224, 3),
    paper=SENET_PAPER,
    reference={},
)
def seresnet152(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet152",
    stem: str = "imagenet",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "projection",
    stride_at: str = "3x3",
):
    """SE-ResNet-152: ResNet-152 with squeeze-and-excitation (ratio 16)."""
    return imagenet_resnet("bottleneck", (3, 8, 36, 3), **locals())


# -- CIFAR ResNets (section 4.2) -------------------------------------------------------------------


@register(
    "resnet20",
    family="resnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=RESNET_PAPER + ", section 4.2",
    reference=_cifar_reference("resnet20"),
)
def resnet20(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "resnet20",
    stem: str = "cifar",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """ResNet-20 for CIFAR (6n+2, n=3, 16-32-64 filters, option A shortcuts)."""
    return cifar_resnet(3, **locals())


@register(
    "resnet32",
    family="resnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=RESNET_PAPER + ", section 4.2",
    reference=_cifar_reference("resnet32"),
)
def resnet32(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "resnet32",
    stem: str = "cifar",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """ResNet-32 for CIFAR (6n+2, n=5, 16-32-64 filters, option A shortcuts)."""
    return cifar_resnet(5, **locals())


@register(
    "resnet44",
    family="resnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=RESNET_PAPER + ", section 4.2",
    reference=_cifar_reference("resnet44"),
)
def resnet44(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "resnet44",
    stem: str = "cifar",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """ResNet-44 for CIFAR (6n+2, n=7, 16-32-64 filters, option A shortcuts)."""
    return cifar_resnet(7, **locals())


@register(
    "resnet56",
    family="resnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=RESNET_PAPER + ", section 4.2",
    reference=_cifar_reference("resnet56"),
)
def resnet56(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "resnet56",
    stem: str = "cifar",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """ResNet-56 for CIFAR (6n+2, n=9, 16-32-64 filters, option A shortcuts)."""
    return cifar_resnet(9, **locals())


@register(
    "resnet110",
    family="resnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=RESNET_PAPER + ", section 4.2",
    reference=_cifar_reference("resnet110"),
)
def resnet110(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "resnet110",
    stem: str = "cifar",
    se_ratio: int | None = None,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """ResNet-110 for CIFAR (6n+2, n=18, 16-32-64 filters, option A shortcuts)."""
    return cifar_resnet(18, **locals())


# -- SE-ResNets (CIFAR) -----------------------------------------------------------------------------


@register(
    "seresnet20",
    family="seresnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=SENET_PAPER,
)
def seresnet20(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet20",
    stem: str = "cifar",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """SE-ResNet-20 for CIFAR: ResNet-20 with squeeze-and-excitation."""
    return cifar_resnet(3, **locals())


@register(
    "seresnet32",
    family="seresnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=SENET_PAPER,
)
def seresnet32(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet32",
    stem: str = "cifar",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """SE-ResNet-32 for CIFAR: ResNet-32 with squeeze-and-excitation."""
    return cifar_resnet(5, **locals())


@register(
    "seresnet44",
    family="seresnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=SENET_PAPER,
)
def seresnet44(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet44",
    stem: str = "cifar",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """SE-ResNet-44 for CIFAR: ResNet-44 with squeeze-and-excitation."""
    return cifar_resnet(7, **locals())


@register(
    "seresnet56",
    family="seresnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=SENET_PAPER,
)
def seresnet56(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet56",
    stem: str = "cifar",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """SE-ResNet-56 for CIFAR: ResNet-56 with squeeze-and-excitation."""
    return cifar_resnet(9, **locals())


@register(
    "seresnet110",
    family="seresnet_cifar",
    default_input=(32, 32, 3),
    default_classes=10,
    paper=SENET_PAPER,
)
def seresnet110(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 10,
    classifier_activation: str | None = "softmax",
    name: str = "seresnet110",
    stem: str = "cifar",
    se_ratio: int | None = 16,
    width_multiplier: float = 1.0,
    dropout: float = 0.0,
    shortcut: str = "zero_pad",
):
    """SE-ResNet-110 for CIFAR: ResNet-110 with squeeze-and-excitation."""
    return cifar_resnet(18, **locals())
