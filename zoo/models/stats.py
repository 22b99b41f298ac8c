"""Parameter and multiply-add counts, computed from a built Keras model."""

from __future__ import annotations

import math


def count_params(model) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    non_trainable = sum(math.prod(w.shape) for w in model.non_trainable_weights)
    return int(trainable), int(non_trainable)


def layer_macs(layer) -> int:
    """Multiply-adds of one layer for one example (convolutions and dense layers)."""
    name = type(layer).__name__
    try:
        out_shape = layer.output.shape
        in_shape = layer.input.shape
    except (AttributeError, ValueError):
        return 0
    if name in ("Conv1D", "Conv2D", "Conv3D"):
        kernel = layer.kernel.shape  # (*k, in/groups, out)
        spatial = math.prod(d for d in out_shape[1:-1])
        return int(spatial * math.prod(kernel))
    if name in ("DepthwiseConv2D", "DepthwiseConv1D"):
        kernel = layer.kernel.shape
        spatial = math.prod(d for d in out_shape[1:-1])
        return int(spatial * math.prod(kernel))
    if name in ("SeparableConv2D", "SeparableConv1D"):
        spatial = math.prod(d for d in out_shape[1:-1])
        return int(
            spatial
            * (math.prod(layer.depthwise_kernel.shape) + math.prod(layer.pointwise_kernel.shape))
        )
    if name == "Dense":
        positions = math.prod(d for d in in_shape[1:-1]) if len(in_shape) > 2 else 1
        return int(positions * math.prod(layer.kernel.shape))
    if name == "Embedding":
        return 0
    return 0


def count_macs(model) -> int:
    """Multiply-adds for one example: convolutions and dense layers (the usual convention)."""
    total = 0
    for layer in model.layers:
        if (
            hasattr(layer, "layers")
            and layer.layers
            and type(layer).__name__ in ("Functional", "Sequential")
        ):
            total += count_macs(layer)
        else:
            total += layer_macs(layer)
    return total
