"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) as a single tower.

Five convolutions (96-256-384-384-256 filters, kernels 11/5/3/3/3, the first with stride 4),
overlapping 3x3/2 max pooling after the first, second and fifth, optional local response
normalisation after the first two (section 3.3), then fc 4096 -> fc 4096 -> classes with
dropout 0.5. The paper split the network over two GPUs; this is the one-tower form
(torchvision's layout with the paper's 96/256/384/384/256 filters): 62,378,344 trainable
parameters at 227x227x3 with 1000 classes. ``stem='cifar'`` replaces the 11x11/4 first
convolution with a 3x3/1 one so that 28x28 and 32x32 images fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo._lazy import layers
from zoo.models.blocks import STEMS, check_choice, check_input_size, lrn
from zoo.models.common import (
    check_pooling,
    check_top,
    classifier,
    dense_stack,
    finish,
    model_input,
)
from zoo.models.registry import register

PAPER = "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep Convolutional Neural Networks"


@register(
    "alexnet",
    family="alexnet",
    default_input=(227, 227, 3),
    default_classes=1000,
    paper=PAPER,
    reference={
        "trainable_params": 62_378_344,
        "paper_params": "60 million (section 1)",
        "source": "single-tower count at 227x227x3, 1000 classes",
    },
)
def alexnet(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "alexnet",
    stem: str = "imagenet",
    local_response_norm: bool = True,
    fc_units: Sequence[int] = (4096, 4096),
    dropout: float = 0.5,
):
    """AlexNet: five convolutions, overlapping pooling, LRN, two dropout fc layers."""
    check_pooling(pooling, name)
    check_top(include_top, weights, classes, name)
    check_choice(stem, STEMS, "stem", name)
    img_input = model_input(input_tensor, input_shape, (227, 227, 3), name)
    kernel, stride, padding = (11, 4, "valid") if stem == "imagenet" else (3, 1, "same")
    plan = [
        (f"the {kernel}x{kernel}/{stride} first conv", kernel, stride, padding),
        ("pool1 (3x3/2)", 3, 2, "valid"),
        ("pool2 (3x3/2)", 3, 2, "valid"),
        ("pool5 (3x3/2)", 3, 2, "valid"),
    ]
    check_input_size(img_input.shape[1:3], plan, model=name, stem=stem)

    x = layers.Conv2D(96, kernel, strides=stride, padding=padding, activation="relu", name="conv1")(
        img_input
    )
    if local_response_norm:
        x = lrn(x, "norm1")
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = layers.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    if local_response_norm:
        x = lrn(x, "norm2")
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.Conv2D(384, 3, padding="same", activation="relu", name="conv4")(x)
    x = layers.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = dense_stack(x, fc_units, dropout=dropout, first=6)
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return finish(img_input, x, input_tensor=input_tensor, name=name, weights=weights)
