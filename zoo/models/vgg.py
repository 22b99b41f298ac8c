"""VGG (Simonyan & Zisserman 2015): configurations A (vgg11), B (vgg13), D (vgg16), E (vgg19).

Stacks of 3x3 convolutions (stride 1, 'same' padding) with a 2x2 max pool after each of the
five blocks, then fc 4096 -> fc 4096 -> classes with dropout 0.5 on the first two. The
``_bn`` variants put batch normalisation after every convolution and, as torchvision's
``vgg*_bn`` do, keep the convolution's bias (redundant before batch norm, but kept so that
the counts and weights match torchvision's): ``vgg16`` with 1000 classes at 224x224x3 has
138,357,544 trainable parameters, ``vgg16_bn`` 138,365,992 (the 2 x 4,224 scales and offsets
of its batch norms more). ``stem='cifar'`` leaves out the last pool so that 28x28 inputs fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo._lazy import layers
from zoo.models.blocks import STEMS, batch_norm, check_choice, check_input_size
from zoo.models.common import (
    check_pooling,
    check_top,
    classifier,
    dense_stack,
    finish,
    model_input,
)
from zoo.models.registry import register

PAPER = (
    "Simonyan & Zisserman 2015, Very Deep Convolutional Networks for Large-Scale Image Recognition"
)

# name: (convolutions per block, paper configuration, paper params in millions (Table 2))
VARIANTS = {
    "vgg11": ((1, 1, 2, 2, 2), "A", 133),
    "vgg13": ((2, 2, 2, 2, 2), "B", 133),
    "vgg16": ((2, 2, 3, 3, 3), "D", 138),
    "vgg19": ((2, 2, 4, 4, 4), "E", 144),
}
FILTERS = (64, 128, 256, 512, 512)
EXACT_PARAMS = {
    "vgg11": 132_863_336,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    # torchvision's vgg11_bn and vgg16_bn (conv bias kept, batch norm scale and offset)
    "vgg11_bn": 132_868_840,
    "vgg16_bn": 138_365_992,
}
PAPER_MACS = {
    "vgg16": "15.5 billion (torchvision's count)",
    "vgg19": "19.6 billion (He et al. 2016, section 3.3)",
}


def vgg_block(x, filters: int, convs: int, *, batch_norm_: bool, pool: bool, name: str):
    """``convs`` x (3x3 conv with bias -> [BN] -> ReLU), then an optional 2x2/2 max pool."""
    for j in range(1, convs + 1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv{j}")(x)
        if batch_norm_:
            x = batch_norm(x, f"{name}_bn{j}")
        x = layers.Activation("relu", name=f"{name}_relu{j}")(x)
    if pool:
        x = layers.MaxPooling2D(2, strides=2, name=f"{name}_pool")(x)
    return x


def vgg(
    convs_per_block: Sequence[int],
    *,
    batch_norm_: bool,
    stem: str,
    fc_units: Sequence[int],
    dropout: float,
    include_top: bool,
    weights: str | None,
    input_tensor,
    input_shape,
    pooling: str | None,
    classes: int,
    classifier_activation,
    name: str,
):
    """Build a VGG network from the number of convolutions in each of its five blocks."""
    check_pooling(pooling, name)
    check_top(include_top, weights, classes, name)
    check_choice(stem, STEMS, "stem", name)
    img_input = model_input(input_tensor, input_shape, (224, 224, 3), name)
    n_pools = len(convs_per_block) - (1 if stem == "cifar" else 0)
    plan = [(f"block{i + 1}'s 2x2 max pool", 2, 2, "valid") for i in range(n_pools)]
    check_input_size(img_input.shape[1:3], plan, model=name, stem=stem)
    x = img_input
    for i, convs in enumerate(convs_per_block):
        x = vgg_block(
            x,
            FILTERS[i],
            convs,
            batch_norm_=batch_norm_,
            pool=i < n_pools,
            name=f"block{i + 1}",
        )
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = dense_stack(x, fc_units, dropout=dropout)
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    return finish(img_input, x, input_tensor=input_tensor, name=name, weights=weights)


def _variant(model: str, convs: tuple, bn: bool, doc: str):
    def builder(
        include_top: bool = True,
        weights: str | None = None,
        input_tensor=None,
        input_shape: Sequence[int] | None = None,
        pooling: str | None = None,
        classes: int = 1000,
        classifier_activation: str | None = "softmax",
        name: str = model,
        stem: str = "imagenet",
        fc_units: Sequence[int] = (4096, 4096),
        dropout: float = 0.5,
        batch_norm: bool = bn,
    ):
        return vgg(
            convs,
            batch_norm_=batch_norm,
            stem=stem,
            fc_units=fc_units,
            dropout=dropout,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
        )

    builder.__name__ = builder.__qualname__ = model
    builder.__doc__ = doc
    return builder


def _register_all() -> None:
    for model, (convs, config, millions) in VARIANTS.items():
        layers_count = sum(convs) + 3
        for bn in (False, True):
            full = model + ("_bn" if bn else "")
            reference: dict = {"paper_params": f"{millions}M (Table 2)"}
            if full in EXACT_PARAMS:
                reference = {"trainable_params": EXACT_PARAMS[full], **reference}
            if not bn and model in PAPER_MACS:
                reference["multiply_adds"] = PAPER_MACS[model]
            register(
                full,
                family="vgg",
                default_input=(224, 224, 3),
                default_classes=1000,
                paper=PAPER,
                reference=reference,
            )(
                _variant(
                    full,
                    convs,
                    bn,
                    f"VGG-{layers_count} (configuration {config})"
                    + (" with batch normalisation." if bn else "."),
                )
            )


_register_all()
