"""``zoo.train``: a recipe and bindings in, a finished (or stopped) run out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.training.record import RunResult
from zoo.training.settings import RunOptions, read_settings

OPTION_NAMES = set(RunOptions.__dataclass_fields__)


def train(
    recipe: str | Path | None = None, bindings: Sequence[str] = (), **kwargs: Any
) -> RunResult:
    """Parse ``recipe`` and ``bindings`` with gin, then train.

    ``zoo.train("fashion_cnn", ["train.epochs = 2"])`` or ``zoo.train("x.gin", epochs=2)``:
    keyword arguments named like ``train.*`` settings override them; the others are
    :class:`~zoo.training.settings.RunOptions` (``resume``, ``extra_callbacks``,
    ``verbose``, ``mlflow``, ``tensorboard``, ``parent_run_id``, ``fold``...).

    ``resume=True`` continues the run the recipe and bindings name (``train.run_name``, else
    the newest of the experiment); ``zoo.train(resume="runs/fashion/r1")`` continues that run
    directory. Either way the run is rebuilt from its own saved settings.
    """
    from zoo.config import parse

    overrides = {k: v for k, v in kwargs.items() if k not in OPTION_NAMES}
    options = RunOptions(**{k: v for k, v in kwargs.items() if k in OPTION_NAMES})
    if options.resume:
        from zoo.training.resume import configure

        _, path = configure(recipe, bindings, options.resume, overrides)
        options.resume, overrides = True, {}
    else:
        path = parse(recipe, bindings, clear=recipe is not None or bool(bindings))
    if path is not None and options.recipe is None:
        options.recipe = str(path)
    settings = read_settings(**overrides)  # gin is read here, once; the phases receive this
    if settings.train.distribution == "ray" and "TF_CONFIG" not in os.environ:
        from zoo.training.ray_train import launch  # the driver: workers run `run` below

        return launch(settings, options)
    if settings.train.folds and options.fold is None:
        from zoo.training.crossval import cross_validate

        return cross_validate(settings, options)
    from zoo.training.run import run

    return run(settings, options)


def check(recipe: str | Path | None = None, bindings: Sequence[str] = (), **kwargs: Any):
    """Parse and validate a recipe, load its data and build and compile its model, but
    train nothing and write nothing (``zoo train RECIPE --check``); returns the Setup."""
    from zoo.config import parse
    from zoo.training.setup import global_policy_kept, prepare

    parse(recipe, bindings, clear=recipe is not None or bool(bindings))
    settings = read_settings(**{k: v for k, v in kwargs.items() if k not in OPTION_NAMES})
    with global_policy_kept():
        return prepare(settings, None, RunOptions())
