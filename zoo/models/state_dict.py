"""torchvision and timm state dicts in zoo's ResNets, SE-ResNets and VGGs.

A state dict is ``{name: array}`` in PyTorch's layouts. It is read with numpy only: a
``.safetensors`` file with the ``safetensors`` package, a ``.pth`` zip archive with a
restricted unpickler that rebuilds tensors and nothing else (no code of the file runs);
the old non-zip ``.pth`` format goes through ``torch.load(weights_only=True)`` when torch is
installed. :func:`torch_plan` maps every weight of a zoo model to a key of that dict, with
the transform it needs (conv ``(out, in, h, w) -> (h, w, in, out)``, dense ``(out, in) ->
(in, out)``, and VGG's first fc layer from torchvision's (C, H, W) flatten order to Keras'
(H, W, C) order); :func:`load_state_dict` checks keys and shapes and assigns.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from zoo.errors import ConfigError

STATE_DICT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin")
# the Keras variables of each layer kind, in layer.weights order, and their PyTorch names
BN_NAMES = ("weight", "bias", "running_mean", "running_var")
HEAD_PREFIXES = ("fc.", "classifier.", "head.fc.")


def is_state_dict_file(path) -> bool:
    return isinstance(path, str | os.PathLike) and os.fspath(path).endswith(STATE_DICT_SUFFIXES)


# ---- reading -----------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.name = name


def _rebuild_tensor(storage, offset, size, stride, *_):
    if not size:
        return storage[offset].copy()
    item = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * item for s in stride)
    )
    return np.array(view)


def _rebuild_parameter(data, *_):
    return data


class _TensorUnpickler(pickle.Unpickler):
    """Unpickles a torch zip archive's ``data.pkl`` into numpy arrays; any other class in
    the pickle (code a file could smuggle in) is refused."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive = archive
        self.prefix = prefix

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refused {module}.{name}")

    def persistent_load(self, pid):
        _, storage_type, key, _location, _numel = pid
        raw = self.archive.read(f"{self.prefix}/data/{key}")
        dtype = _STORAGE_DTYPES[storage_type.name]
        if dtype == "bfloat16":  # numpy has none: widen the 16 bits to float32
            bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
            return bits.view(np.float32)
        return np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))


def _read_pth(path: Path) -> dict:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if not pickles:
                raise ConfigError(f"{path} is a zip file but not a PyTorch state dict.")
            prefix = pickles[0][: -len("/data.pkl")]
            with archive.open(pickles[0]) as file:
                try:
                    return _TensorUnpickler(file, archive, prefix).load()
                except pickle.UnpicklingError as exc:
                    raise ConfigError(
                        f"{path} holds more than tensors ({exc}): zoo reads only state dicts."
                    ) from None
    try:
        import torch
    except ImportError:
        raise ConfigError(
            f"{path} is in PyTorch's old (pre-1.6) format, which needs torch to read: "
            "pip install torch, or convert it to .safetensors."
        ) from None
    data = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in data.items()}


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``{key: array}`` from a ``.safetensors`` or ``.pth`` file (a nested ``state_dict`` or
    ``model`` entry, as training checkpoints have, is unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"No state dict file at {path}.")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        try:
            data = load_file(str(path))
        except Exception as exc:
            raise ConfigError(f"{path} is not a readable .safetensors file ({exc}).") from None
    else:
        data = _read_pth(path)
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict):
        raise ConfigError(f"{path} holds no state dict (a {type(data).__name__}).")
    return {k: np.asarray(v) for k, v in data.items()}


# ---- mapping -----------------------------------------------------------------------------------


def _conv(a):
    return np.transpose(a, (2, 3, 1, 0))


def _dense(a):
    return np.transpose(a.reshape(a.shape[0], -1)) if a.ndim == 4 else np.transpose(a)


def _flatten_dense(height: int, width: int):
    """torchvision's first fc after a flatten of (C, H, W) as Keras' dense after (H, W, C)."""

    def convert(a):
        out = a.shape[0]
        channels = a.size // (out * height * width)
        return a.reshape(out, channels, height, width).transpose(2, 3, 1, 0).reshape(-1, out)

    return convert


def _inverse_shape(kind, shape):
    """The PyTorch shape that becomes the Keras ``shape`` (for the mismatch message)."""
    if kind == "conv":
        h, w, i, o = shape
        return (o, i, h, w)
    if kind == "dense" or isinstance(kind, tuple):
        return tuple(reversed(shape))
    return tuple(shape)


def _bn(torch_name: str) -> list[tuple]:
    return [(f"{torch_name}.{n}", "vector") for n in BN_NAMES]


def _resnet_layer(name: str):
    """PyTorch entries of one zoo ResNet layer (torchvision's and timm's names)."""
    if name == "conv1_conv":
        return [("conv1.weight", "conv")]
    if name == "conv1_bn":
        return _bn("bn1")
    if name == "predictions":
        return [("fc.weight", "dense"), ("fc.bias", "vector")]
    found = re.fullmatch(r"conv(\d+)_block(\d+)_(\w+)", name)
    if not found:
        return None
    stage, block, part = int(found[1]) - 1, int(found[2]) - 1, found[3]
    base = f"layer{stage}.{block}"
    simple = {
        "0_conv": [(f"{base}.downsample.0.weight", "conv")],
        "0_bn": _bn(f"{base}.downsample.1"),
    }
    for k in (1, 2, 3):
        simple[f"{k}_conv"] = [(f"{base}.conv{k}.weight", "conv")]
        simple[f"{k}_bn"] = _bn(f"{base}.bn{k}")
    for zoo_part, fc in (("se_reduce", "fc1"), ("se_expand", "fc2")):
        simple[zoo_part] = [(f"{base}.se.{fc}.weight", "dense"), (f"{base}.se.{fc}.bias", "vector")]
    return simple.get(part)


def _vgg_entries(model) -> dict:
    """zoo VGG layer -> entries: ``features.N`` counts conv, BN, ReLU and pool modules as
    torchvision's ``make_layers`` does; fc1, fc2, predictions are ``classifier.0/3/6``."""
    entries: dict = {}
    index = 0
    for layer in model.layers:
        kind = layer.__class__.__name__
        if not layer.name.startswith("block"):
            continue
        if kind == "Conv2D":
            entries[layer.name] = [
                (f"features.{index}.weight", "conv"),
                (f"features.{index}.bias", "vector"),
            ]
        elif kind == "BatchNormalization":
            entries[layer.name] = _bn(f"features.{index}")
        elif kind not in ("Activation", "MaxPooling2D", "ReLU"):
            continue
        index += 1
    for name, torch_name in (
        ("fc1", "classifier.0"),
        ("fc2", "classifier.3"),
        ("predictions", "classifier.6"),
    ):
        entries[name] = [(f"{torch_name}.weight", "dense"), (f"{torch_name}.bias", "vector")]
    return entries


def family_of(model) -> str:
    names = {layer.name for layer in model.layers}
    if "conv1_conv" in names and "conv2_block1_1_conv" in names:
        return "resnet"
    if "block1_conv1" in names:
        return "vgg"
    raise ConfigError(
        f"{model.name}: PyTorch state dicts load into zoo's ResNets, SE-ResNets and VGGs only."
    )


def torch_plan(model) -> list[tuple]:
    """``(layer, [(torch_key, kind), ...])`` for every layer of ``model`` that holds weights,
    in the order of ``layer.weights``."""
    family = family_of(model)
    vgg = _vgg_entries(model) if family == "vgg" else {}
    plan = []
    for layer in model.layers:
        if not layer.weights:
            continue
        entries = vgg.get(layer.name) if family == "vgg" else _resnet_layer(layer.name)
        if entries is None:
            raise ConfigError(
                f"{model.name}: layer {layer.name!r} has no counterpart in torchvision's layout."
            )
        if family == "vgg" and layer.name == "fc1":
            flat = model.get_layer("flatten").input.shape
            entries = [(entries[0][0], ("flatten", int(flat[1]), int(flat[2]))), entries[1]]
        plan.append((layer, entries))
    return plan


def _convert(kind, array):
    if kind == "conv":
        return _conv(array)
    if kind == "dense":
        return _dense(array)
    if isinstance(kind, tuple):
        return _flatten_dense(kind[1], kind[2])(array)
    return array


def load_state_dict(model, state: dict, *, source: str = "the state dict") -> None:
    """Assign ``state`` to ``model``; the classifier is skipped when the model's has another
    shape (``classes`` != 1000) or there is none (``include_top=False``).

    One ConfigError sentence names the first key that is missing, unexpected or of the
    wrong shape; nothing is assigned unless everything fits.
    """
    plan = torch_plan(model)
    used = set()
    assignments = []
    for layer, entries in plan:
        variables = layer.weights
        head = layer.name == "predictions"
        keys = [key for key, _ in entries]
        if head and any(k in state for k in keys):
            shapes = [_convert(kind, state[k]).shape for k, kind in entries if k in state]
            if shapes != [tuple(v.shape) for v in variables[: len(shapes)]]:
                used.update(keys)
                continue  # a new head: everything but the classifier is loaded
        values = []
        for (key, kind), variable in zip(entries, variables, strict=True):
            if key not in state:
                raise ConfigError(
                    f"{source} has no {key!r}, which {model.name}'s layer {layer.name!r} needs."
                )
            needed = _inverse_shape(kind, tuple(variable.shape))
            if tuple(state[key].shape) not in (needed, needed + (1, 1)):
                raise ConfigError(
                    f"{source}: {key!r} has shape {tuple(state[key].shape)}, but "
                    f"{model.name}'s layer {layer.name!r} needs {needed} (a different model "
                    "or input size?)."
                )
            values.append(_convert(kind, state[key]).astype(np.float32))
            used.add(key)
        assignments.append((layer, values))
    for key in state:
        if key in used or key.endswith("num_batches_tracked"):
            continue
        if key.startswith(HEAD_PREFIXES) and not _has_head(model, key):
            continue
        raise ConfigError(f"{source} has {key!r}, which {model.name} has no place for.")
    for layer, values in assignments:
        for variable, value in zip(layer.weights, values, strict=True):
            variable.assign(value.astype(variable.dtype))


def _has_head(model, key: str) -> bool:
    """Whether the classifier layers that ``key`` belongs to exist in ``model``."""
    names = {layer.name for layer in model.layers}
    if key.startswith("classifier."):
        index = key.split(".")[1]
        return {"0": "fc1", "3": "fc2", "6": "predictions"}.get(index, "") in names
    return "predictions" in names


def load_torch_weights(model, path: str | os.PathLike) -> None:
    """Read a torchvision/timm state dict file and load it into ``model``."""
    load_state_dict(model, read_state_dict(path), source=str(path))
