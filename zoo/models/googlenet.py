"""GoogLeNet, Inception v1 (Szegedy et al. 2015), as in the paper's Table 1.

Stem: 7x7/2 conv, 3x3/2 max pool, LRN, 1x1 conv 64, 3x3 conv 192, LRN, 3x3/2 max pool; then
inception modules 3a-3b, a pool, 4a-4e, a pool, 5a-5b, global average pooling, dropout 0.4
and a linear layer. Every convolution has a bias and a ReLU (no batch norm: that came with
Inception v2), the 5x5 branch is a true 5x5. Without the auxiliary heads: 6,998,552
trainable parameters at 224x224x3 with 1000 classes. ``stem='cifar'`` is a 3x3/1 conv 64,
the 1x1 and 3x3 convolutions and one 3x3/2 pool, for 28x28 or 32x32 inputs.

``aux_heads=True`` adds the two auxiliary classifiers on 4a and 4d, for training: the model
then returns a dict ``{"main": ..., "aux1": ..., "aux2": ...}``, to be compiled with a loss
per output and :data:`AUX_LOSS_WEIGHTS` (0.3 for each auxiliary loss, section 6 of the paper)
and fitted on targets repeated per output (:func:`aux_targets`). :func:`without_aux_heads`
gives the single-output network for evaluation and export, sharing the trained weights.
"""

from __future__ import annotations

from collections.abc import Sequence

from zoo._lazy import keras, layers
from zoo.models.blocks import (
    STEMS,
    check_choice,
    check_input_size,
    conv_relu,
    inception_aux_head,
    inception_module,
    lrn,
)
from zoo.models.common import check_pooling, check_top, classifier, finish, model_input
from zoo.models.registry import register

PAPER = "Szegedy et al. 2015, Going Deeper with Convolutions"
OUTPUTS = ("main", "aux1", "aux2")
# "the losses of the auxiliary classifiers were weighted by 0.3" (Szegedy et al. 2015, section 6)
AUX_LOSS_WEIGHTS = {"main": 1.0, "aux1": 0.3, "aux2": 0.3}

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


@register(
    "googlenet",
    family="googlenet",
    default_input=(224, 224, 3),
    default_classes=1000,
    paper=PAPER,
    reference={
        "trainable_params": 6_998_552,
        "paper_multiply_adds": "1.5 billion (section 5)",
        "source": "Table 1 without the auxiliary heads, 1000 classes",
    },
)
def googlenet(
    include_top: bool = True,
    weights: str | None = None,
    input_tensor=None,
    input_shape: Sequence[int] | None = None,
    pooling: str | None = None,
    classes: int = 1000,
    classifier_activation: str | None = "softmax",
    name: str = "googlenet",
    stem: str = "imagenet",
    local_response_norm: bool = True,
    aux_heads: bool = False,
    dropout: float = 0.4,
):
    """GoogLeNet (Inception v1): nine inception modules, optional auxiliary classifiers."""
    check_pooling(pooling, name)
    check_top(include_top, weights, classes, name)
    check_choice(stem, STEMS, "stem", name)
    img_input = model_input(input_tensor, input_shape, (224, 224, 3), name)
    plan = [("the 7x7/2 stem conv", 7, 2, "same"), ("pool1 (3x3/2)", 3, 2, "same")]
    plan = plan if stem == "imagenet" else []
    plan += [
        ("pool2 (3x3/2)", 3, 2, "same"),
        ("pool3 (3x3/2)", 3, 2, "same"),
        ("pool4 (3x3/2)", 3, 2, "same"),
    ]
    if aux_heads and include_top:
        plan_aux = plan[:-1] + [("the auxiliary heads' 5x5/3 average pool", 5, 3, "valid")]
        check_input_size(img_input.shape[1:3], plan_aux, model=name, stem=stem)
    check_input_size(img_input.shape[1:3], plan, model=name, stem=stem)

    x = img_input
    if stem == "imagenet":
        x = conv_relu(x, 64, 7, strides=2, name="conv1")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
        if local_response_norm:
            x = lrn(x, "norm1", bias=1.0)
    else:
        x = conv_relu(x, 64, 3, name="conv1")
    x = conv_relu(x, 64, 1, name="conv2_reduce")
    x = conv_relu(x, 192, 3, name="conv2")
    if local_response_norm:
        x = lrn(x, "norm2", bias=1.0)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    aux_outputs = []
    for key, filters in MODULES.items():
        if key in ("4a", "5a"):
            x = layers.MaxPooling2D(
                3, strides=2, padding="same", name=f"pool{3 if key == '4a' else 4}"
            )(x)
        x = inception_module(x, *filters, name=f"inception{key}")
        if aux_heads and include_top and key in ("4a", "4d"):
            aux_outputs.append(
                inception_aux_head(
                    x, classes, classifier_activation, name=f"aux{len(aux_outputs) + 1}"
                )
            )
    x = classifier(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        dropout=dropout,
    )
    outputs = dict(zip(OUTPUTS, [x, *aux_outputs], strict=True)) if aux_outputs else x
    return finish(img_input, outputs, input_tensor=input_tensor, name=name, weights=weights)


def without_aux_heads(model):
    """The single-output network of a GoogLeNet built with ``aux_heads=True`` (the same layers
    and weights, the auxiliary classifiers left out); a model without them is returned as is."""
    if not isinstance(model.output, dict):
        return model
    return keras.Model(model.input, model.output["main"], name=model.name)


def aux_targets(x, y):
    """``(x, y) -> (x, {"main": y, "aux1": y, "aux2": y})``, to map a tf.data split onto the
    three outputs of a GoogLeNet with auxiliary heads."""
    return x, {key: y for key in OUTPUTS}
