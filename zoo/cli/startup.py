"""TensorFlow's start-up lines kept off a command's output.

Importing TensorFlow 2.21 writes, from C++ and before any logging is set up, lines such as
``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR``
and ``oneDNN custom operations are on ...`` -- twice, once per native library it loads --
whatever ``TF_CPP_MIN_LOG_LEVEL`` says. They land in the middle of a command's output
(``zoo info``). :func:`quiet_tensorflow_start` makes the first ``import tensorflow`` run with
the process's stderr (file descriptor 2) caught, and writes back every line but those.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator

# Lines TensorFlow writes while it loads, telling nothing about the command being run.
START_UP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "Could not find cuda drivers on your machine",
    "TF-TRT Warning: Could not find TensorRT",
)

# Written when TensorFlow first looks for GPUs on a machine without a CUDA driver: noise there,
# and kept wherever a GPU is found (a failing GPU is worth seeing).
NO_GPU_NOISE = ("failed call to cuInit",)


def is_noise(line: str, gpu_found: bool = True) -> bool:
    """Whether ``line`` is one of TensorFlow's start-up lines."""
    noise = START_UP_NOISE if gpu_found else START_UP_NOISE + NO_GPU_NOISE
    return any(text in line for text in noise)


@contextlib.contextmanager
def filtered_stderr(gpus: list | None = None) -> Iterator[None]:
    """Catch what is written to file descriptor 2 (by Python or C++) while the block runs,
    then write it back without TensorFlow's start-up lines. ``gpus``, when given, is filled
    by the block with the GPUs found; with none, the failed CUDA start is noise too."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            found = gpus is None or bool(gpus)
            lines = text.splitlines(keepends=True)
            kept = [line for line in lines if not is_noise(line, found)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of ``tensorflow`` inside :func:`filtered_stderr`."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        gpus: list = []
        with filtered_stderr(gpus):
            self.loader.exec_module(module)
            # The first look for GPUs starts CUDA; without a driver it writes an error line.
            gpus.extend(module.config.list_physical_devices("GPU"))


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, and gives it a :class:`_QuietLoader`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; the real finders do the finding
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow_start() -> None:
    """Keep TensorFlow's start-up lines off stderr, unless the user chose a log level
    (``TF_CPP_MIN_LOG_LEVEL`` set) or TensorFlow is already imported."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TensorFlow's own INFO and WARNING lines
    if not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())
