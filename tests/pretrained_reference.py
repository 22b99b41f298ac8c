"""Random torchvision-layout state dicts from a seed, with numpy only.

``benchmarks/torch_reference.py`` loads the same arrays into torchvision's (or timm's) model
and records its logits; the tests regenerate the arrays from the seed and the key/shape
manifest and compare zoo's logits, so CI checks the mapping without torch. Batch-norm
statistics are random too: the defaults (mean 0, variance 1, gamma 1, beta 0) would hide a
wrong mapping of them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "pretrained"


def random_state_dict(manifest, seed: int) -> dict[str, np.ndarray]:
    """One array per ``(key, shape)`` of ``manifest``, drawn in order from ``seed``."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in manifest:
        shape = tuple(shape)
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[key] = np.zeros(shape, np.int64)
            continue
        if leaf == "running_var":
            value = rng.uniform(0.5, 1.5, shape)
        elif leaf in ("running_mean", "bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif leaf == "weight" and len(shape) == 1:  # batch-norm gamma
            value = rng.uniform(0.5, 1.0, shape)
        else:  # conv and dense weights, He-scaled so that deep networks stay finite
            value = rng.normal(0.0, math.sqrt(2.0 / math.prod(shape[1:])), shape)
        state[key] = value.astype(np.float32)
    return state


def random_input(shape, seed: int) -> np.ndarray:
    """The NCHW input of a reference, from ``seed + 1``."""
    return np.random.default_rng(seed + 1).standard_normal(tuple(shape)).astype(np.float32)


def reference_path(name: str) -> Path:
    return DATA / f"{name}.json"


def load_reference(path: Path) -> dict:
    return json.loads(Path(path).read_text())


def zoo_logits(reference: dict) -> np.ndarray:
    """zoo's logits for ``reference``: the model built at its input size, the seeded state
    dict loaded, the same input in NHWC, float32."""
    import keras

    import zoo
    from zoo.models.state_dict import load_state_dict

    keras.mixed_precision.set_global_policy("float32")
    n, c, h, w = reference["input_shape"]
    model = zoo.build(
        reference["model"],
        input_shape=(h, w, c),
        classifier_activation=None,
        **reference.get("build", {}),
    )
    load_state_dict(model, random_state_dict(reference["manifest"], reference["seed"]))
    x = random_input(reference["input_shape"], reference["seed"]).transpose(0, 2, 3, 1)
    return np.asarray(model(x, training=False), np.float32)


def relative_difference(reference: dict, logits: np.ndarray) -> float:
    """max |zoo - torch| / max |torch|."""
    expected = np.asarray(reference["logits"], np.float32)
    return float(np.max(np.abs(logits - expected)) / np.max(np.abs(expected)))
