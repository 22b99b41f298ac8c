"""ImageNet weights of zoo's own models, from torchvision's and timm's published files.

:data:`SOURCES` is the table: where each file comes from, the checksum its publisher gives
(torchvision and timm put the first hex digits of the file's SHA-256 in its name and check
that prefix, as ``torch.hub`` does), the input it was trained for (size, mean, std) and the
published top-1. ``weights='imagenet'`` looks for the file in keras' cache
(``$KERAS_HOME/models``, else ``~/.keras/models``), downloads it there when it is missing
(progress bar, checksum, written atomically: a failed download leaves nothing behind) and
converts it once to ``.safetensors`` next to it. The networks take normalised input, as
keras.applications' do: :func:`preprocessing` gives the resize and the mean/std as layers.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TORCHVISION = "https://download.pytorch.org/models/"


class WeightsError(ConfigError):
    """Pretrained weights that are missing, corrupt or could not be downloaded."""


@dataclass(frozen=True)
class Source:
    """One published weights file of a zoo model."""

    model: str
    origin: str
    url: str
    sha256_prefix: str
    top1: float | None
    input_size: int = 224
    resize_size: int = 256
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def top1_text(self) -> str:
        return f"top-1 {self.top1:.3f}%" if self.top1 is not None else "top-1 not published"


def _tv(model: str, weights: str, digest: str, top1: float) -> Source:
    return Source(
        model,
        f"torchvision {weights}.IMAGENET1K_V1",
        f"{TORCHVISION}{model}-{digest}.pth",
        digest,
        top1,
    )


# torchvision's numbers: acc@1 of its weights' metadata (ImageNet-1k val, 224 crop of 256)
SOURCES: dict[str, Source] = {
    s.model: s
    for s in (
        _tv("resnet18", "ResNet18_Weights", "f37072fd", 69.758),
        _tv("resnet34", "ResNet34_Weights", "b627a593", 73.314),
        _tv("resnet50", "ResNet50_Weights", "0676ba61", 76.130),
        _tv("resnet101", "ResNet101_Weights", "63fe2227", 77.374),
        _tv("resnet152", "ResNet152_Weights", "394f9c45", 78.312),
        _tv("vgg11", "VGG11_Weights", "8a719046", 69.020),
        _tv("vgg11_bn", "VGG11_BN_Weights", "6002323d", 70.370),
        _tv("vgg13", "VGG13_Weights", "19584684", 69.928),
        _tv("vgg13_bn", "VGG13_BN_Weights", "abd245e5", 71.586),
        _tv("vgg16", "VGG16_Weights", "397923af", 71.592),
        _tv("vgg16_bn", "VGG16_BN_Weights", "6c64b313", 73.360),
        _tv("vgg19", "VGG19_Weights", "dcbb9e9d", 72.376),
        _tv("vgg19_bn", "VGG19_BN_Weights", "c79401a0", 74.218),
        # timm's seresnet50.ra2_in1k: the same layout as zoo's seresnet50 (SE after the
        # last batch norm of each bottleneck, C/16 reduction, 1x1 convs with bias)
        Source(
            "seresnet50",
            "timm seresnet50.ra2_in1k",
            "https://github.com/rwightman/pytorch-image-models/releases/download/"
            "v0.1-weights/seresnet50_ra_224-8efdb4bb.pth",
            "8efdb4bb",
            None,  # timm's package gives no top-1 (its results tables are not shipped)
        ),
    )
}


def source(name: str) -> Source:
    """The table entry of ``name``; one sentence listing the models that have one otherwise."""
    if name not in SOURCES:
        raise WeightsError(
            f"{name} has no ImageNet weights in zoo; models that have them: {', '.join(SOURCES)}."
        )
    return SOURCES[name]


def pretrained_models() -> list[str]:
    return list(SOURCES)


def weights_dir() -> Path:
    """keras' cache of downloaded weights, the folder keras.applications uses too."""
    from zoo.models.applications import keras_models_dir

    return keras_models_dir()


def converted_path(src: Source, folder: Path | None = None) -> Path:
    return (folder or weights_dir()) / (Path(src.file_name).stem + ".safetensors")


def is_cached(name: str) -> bool:
    src = source(name)
    return converted_path(src).is_file() or (weights_dir() / src.file_name).is_file()


# ---- download ----------------------------------------------------------------------------------


def _progress(name: str, done: int, total: int) -> None:
    if total:
        width = 30
        filled = width * done // total
        bar = "=" * filled + "." * (width - filled)
        text = f"\r{name} [{bar}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
    else:
        text = f"\r{name} {done / 1e6:.1f} MB"
    sys.stderr.write(text)
    sys.stderr.flush()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, destination: Path, sha256_prefix: str, *, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``destination`` through a temporary file in the same folder, checked
    against ``sha256_prefix`` and renamed into place only when complete and correct."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            last = -1
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if total == 0 or 100 * done // total != last:
                    last = 100 * done // total if total else last
                    _progress(destination.name, done, total)
            sys.stderr.write("\n")
        if total and done != total:
            raise WeightsError(f"the download of {url} stopped after {done} of {total} bytes")
        if not digest.hexdigest().startswith(sha256_prefix):
            raise WeightsError(
                f"{url} has SHA-256 {digest.hexdigest()[:16]}..., not the published "
                f"{sha256_prefix}... (a corrupt or substituted file)"
            )
        os.replace(partial, destination)
        return destination
    except http.client.IncompleteRead as exc:
        raise WeightsError(
            f"the download of {url} stopped after {done + len(exc.partial)} bytes"
        ) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsError(f"{url} could not be downloaded ({reason})") from None
    finally:
        partial.unlink(missing_ok=True)


def weights_file(name: str, *, allow_download: bool = True) -> Path:
    """The converted ``.safetensors`` state dict of ``name``'s ImageNet weights, made once
    from the published file (found in keras' cache or downloaded there)."""
    src = source(name)
    folder = weights_dir()
    converted = converted_path(src, folder)
    if converted.is_file():
        return converted
    original = folder / src.file_name
    if not original.is_file():
        hint = (
            f"put {src.file_name} (from {src.url}) in {folder}/, or use weights=None "
            "(transfer.weights = None)."
        )
        if not allow_download:
            raise WeightsError(f"{name}'s ImageNet weights are not in keras' cache: {hint}")
        try:
            download(src.url, original, src.sha256_prefix)
        except WeightsError as exc:
            raise WeightsError(f"{name}'s ImageNet weights: {exc}; {hint}") from None
    elif not sha256_of(original).startswith(src.sha256_prefix):
        raise WeightsError(
            f"{original} does not have the published checksum ({src.sha256_prefix}...): "
            f"delete it and download {src.url} again."
        )
    return convert(original, converted)


def convert(original: Path, converted: Path) -> Path:
    """Write ``original``'s state dict as ``.safetensors`` (atomically), read without torch."""
    from safetensors.numpy import save_file

    from zoo.models.state_dict import read_state_dict

    state = read_state_dict(original)
    partial = converted.with_name(f".{converted.name}.{os.getpid()}.part")
    try:
        save_file({k: v for k, v in state.items()}, str(partial))
        os.replace(partial, converted)
    finally:
        partial.unlink(missing_ok=True)
    return converted


def imagenet_state_dict(name: str) -> dict:
    """``name``'s ImageNet state dict (``weights='imagenet'`` of the builders)."""
    from zoo.models.state_dict import read_state_dict

    return read_state_dict(weights_file(name))


# ---- preprocessing and transfer ----------------------------------------------------------------


def preprocessing(name: str, image_size: int | None = None, input_scale: float = 1.0):
    """The resize and mean/std normalisation ``name``'s ImageNet weights expect, as Keras
    layers (a Sequential): ``input_scale`` maps the images to 0-255 (255 for images in
    [0, 1], as zoo's datasets give them); grayscale is repeated to three channels."""
    import keras

    src = source(name)
    size = image_size or src.input_size
    return keras.Sequential(
        [keras.layers.Resizing(size, size, name="input_resize"), normalization(src, input_scale)],
        name=f"{name}_preprocessing",
    )


def normalization(src: Source, input_scale: float):
    """``(x * input_scale / 255 - mean) / std`` as zoo's ImagePreprocess layer."""
    from zoo.models.layers import ImagePreprocess

    matrix = [[0.0] * 3 for _ in range(3)]
    for i, s in enumerate(src.std):
        matrix[i][i] = 1.0 / (255.0 * s)
    bias = [-m / s for m, s in zip(src.mean, src.std, strict=True)]
    return ImagePreprocess(matrix, bias, input_scale=input_scale, name="input_preprocess")


PREFIX = "imagenet:"


def is_imagenet_source(source_: str) -> bool:
    return str(source_).startswith(PREFIX)


def imagenet_base(source_: str, input_shape, weights: str | None, image_size: int | None):
    """``train.init_from = 'imagenet:resnet18'``: zoo's model without its top, with ImageNet
    weights, behind the resizing and normalisation they expect (data in [0, 1])."""
    from zoo.models.applications import resized_input
    from zoo.models.registry import build

    name = source_[len(PREFIX) :]
    src = source(name)
    _, x, _ = resized_input(source_, input_shape, image_size)
    x = normalization(src, 255.0)(x)
    return build(name, include_top=False, weights=weights, input_tensor=x)
