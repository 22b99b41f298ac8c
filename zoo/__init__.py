"""zoo: gin-configurable Keras 3 architectures, tuning, and TensorBoard + MLflow side by side.

``import zoo`` is cheap: TensorFlow is imported only when a model is built or a run starts.

    import zoo
    zoo.list_models("resnet*")
    model = zoo.build("cnn", input_shape=(28, 28, 1), classes=10)
    result = zoo.train("fashion_cnn", ["train.epochs = 2"])
"""

from __future__ import annotations

import importlib

from zoo.errors import ZooError

__version__ = "0.1.0"

_LAZY = {
    # the registry imports the model families (each registers its builders with gin): on first use
    "build": ("zoo.models.registry", "build"),
    "get_spec": ("zoo.models.registry", "get_spec"),
    "info": ("zoo.models.registry", "info"),
    "list_models": ("zoo.models.registry", "list_models"),
    "register": ("zoo.models.registry", "register"),
    "stats": ("zoo.models.stats", None),
    "preprocessing": ("zoo.models.imagenet", "preprocessing"),
    "train": ("zoo.training.api", "train"),
    "RunResult": ("zoo.training.record", "RunResult"),
    "RunStopped": ("zoo.training.stops", "RunStopped"),
    "training": ("zoo.training", None),
    "tracking": ("zoo.tracking", None),
    "datasets": ("zoo.datasets", None),
    "losses": ("zoo.training.losses", None),
    "config": ("zoo.config", None),
    "transfer": ("zoo.training.transfer", None),
    "find_lr": ("zoo.training.lr_sweep", "find_lr"),
    "compare": ("zoo.comparison", "compare"),
    "diagnose": ("zoo.analysis.diagnose", None),
    "tune": ("tuners.api", "tune"),
    "TuneResult": ("tuners.api", "TuneResult"),
    "text": ("zoo.analysis.embeddings", None),
    "cross_validate": ("zoo.training.crossval", "cross_validate"),
    "comparison": ("zoo.comparison", None),
    "analysis": ("zoo.analysis", None),
    "summary": ("zoo.analysis.summary", None),
    "scaling": ("zoo.analysis.scaling", None),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        value = mod if attr is None else getattr(mod, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


__all__ = [
    "ZooError",
    "__version__",
    *_LAZY,
]
