"""Deferred imports, so that `zoo --help` and `zoo list` never import TensorFlow."""

from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    """A module proxy that imports the real module on first attribute access."""

    def __init__(self, name: str):
        super().__init__(name)
        self._zoo_module: types.ModuleType | None = None

    def _load(self) -> types.ModuleType:
        if self._zoo_module is None:
            self._zoo_module = importlib.import_module(self.__name__)
        return self._zoo_module

    def __getattr__(self, attr: str):
        return getattr(self._load(), attr)


keras = LazyModule("keras")
layers = LazyModule("keras.layers")
ops = LazyModule("keras.ops")
