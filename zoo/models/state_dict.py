"""torchvision and timm state dicts in zoo's ResNets, SE-ResNets and VGGs.

A state dict is ``{name: array}`` in PyTorch's layouts. It is read with numpy only: a
``.safetensors`` file with the ``safetensors`` package, a ``.pth`` zip archive with a
restricted unpickler that rebuilds tensors and nothing else (no code of the file runs),
in PyTorch's zip format (since 1.6) and its older one alike: torch is never needed. :func:`torch_plan` maps every weight of a zoo model to a key of that dict, with
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
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


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


class _Storage:
    """A torch storage: its element type and, once read, its raw little-endian bytes."""

    def __init__(self, type_name: str, raw: bytes | None = None):
        self.dtype = _STORAGE_DTYPES[type_name]
        self.raw = raw

    def array(self) -> np.ndarray:
        if self.dtype == "bfloat16":  # numpy has none: widen the 16 bits to float32
            return (np.frombuffer(self.raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(self.raw, np.dtype(self.dtype).newbyteorder("<"))


class _Tensor:
    """A tensor to rebuild once its storage's bytes are known (the old format stores them
    after the pickle)."""

    def __init__(self, storage: _Storage, offset: int, size, stride, *_):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def array(self) -> np.ndarray:
        data = self.storage.array()
        if not self.size:
            return data[self.offset].copy()
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=tuple(self.size),
            strides=tuple(s * data.itemsize for s in self.stride),
        )
        return np.array(view)


def _rebuild_parameter(data, *_):
    return data


def _arrays(obj):
    """Replace every rebuilt tensor in ``obj`` (dicts of tensors) by its numpy array."""
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    return obj.array() if isinstance(obj, _Tensor) else obj


class _TensorUnpickler(pickle.Unpickler):
    """Unpickles a torch state dict into tensors to rebuild; any other class in the pickle
    (code a file could smuggle in) is refused. ``read`` gives a zip archive's storage bytes;
    without it (the old format) storages are filled after the pickle."""

    def __init__(self, file, read=None):
        super().__init__(file)
        self.read = read
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _Tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refused {module}.{name}")

    def persistent_load(self, pid):
        if pid[0] != "storage" or not isinstance(pid[1], _StorageType):
            raise pickle.UnpicklingError(f"refused persistent id {pid[0]!r}")
        key = str(pid[2])
        if key not in self.storages:
            raw = self.read(key) if self.read else None
            self.storages[key] = _Storage(pid[1].name, raw)
        return self.storages[key]


def _read_legacy(path: Path) -> dict:
    """PyTorch's pre-1.6 format: magic number, protocol, system info, the pickle, the list of
    storage keys, then each storage as an int64 element count and its bytes."""
    with open(path, "rb") as file:
        header = [pickle.Unpickler(file).load() for _ in range(3)]
        if header[0] != LEGACY_MAGIC:
            raise ConfigError(f"{path} is neither a zip nor an old-format PyTorch file.")
        if not header[2].get("little_endian", True):
            raise ConfigError(f"{path} was written on a big-endian machine.")
        unpickler = _TensorUnpickler(file)
        state = unpickler.load()
        for key in pickle.Unpickler(file).load():
            storage = unpickler.storages[str(key)]
            count = int(np.frombuffer(file.read(8), "<i8")[0])
            storage.raw = file.read(count * np.dtype(_itemsize_dtype(storage)).itemsize)
    return state


def _itemsize_dtype(storage: _Storage):
    return np.uint16 if storage.dtype == "bfloat16" else storage.dtype


def _read_pth(path: Path) -> dict:
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
                if not pickles:
                    raise ConfigError(f"{path} is a zip file but not a PyTorch state dict.")
                prefix = pickles[0][: -len("/data.pkl")]
                with archive.open(pickles[0]) as file:
                    state = _TensorUnpickler(
                        file, lambda key: archive.read(f"{prefix}/data/{key}")
                    ).load()
                    return _arrays(state)
        return _arrays(_read_legacy(path))
    except ConfigError:
        raise
    except pickle.UnpicklingError as exc:
        raise ConfigError(
            f"{path} holds more than tensors ({exc}): zoo reads only state dicts."
        ) from None
    except (EOFError, KeyError, ValueError, IndexError) as exc:
        raise ConfigError(f"{path} is not a readable PyTorch state dict ({exc}).") from None


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
