"""``--resume`` rebuilds a run from its own settings: the ``operative_config.gin`` it saved.

A stopped run is found from its directory (``zoo train --resume runs/fashion/r1``) or from a
recipe and ``train.run_name`` (``zoo train RECIPE --bind train.run_name=r1 --resume``). Either
way the run continues with the settings it was trained with, whatever the command line leaves
out. What the command line does say must agree with them: only ``train.epochs`` (the budget)
may differ; any other difference is refused with one sentence that lists it. The schedule is
part of the checkpoint, so a new budget changes where training stops, not the schedule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gin

from zoo._compat import gin_bindings
from zoo.errors import ConfigError
from zoo.tracking.rundir import RunDir

TRAIN = "zoo.train"  # gin's selector of the ``train`` configurable


def resume_command(run_dir: Path) -> str:
    """The shortest command that resumes exactly the run in ``run_dir``."""
    import shlex

    return f"zoo train --resume {shlex.quote(str(run_dir))}"


def configure(
    recipe: str | Path | None,
    bindings: Sequence[str],
    resume: bool | str | os.PathLike,
    overrides: Mapping[str, Any],
) -> tuple[Path, Path | None]:
    """Leave gin configured with the settings of the run to resume; return its directory
    and the recipe it was started from (None when unknown).

    ``resume`` is True (the run named by the recipe's and bindings' ``train.run_name``, else
    the newest of their experiment) or a run directory. ``overrides`` are ``zoo.train``'s
    keyword settings (``epochs=5``), compared like bindings.
    """
    from zoo.config import parse
    from zoo.training.settings import current_settings

    stated = recipe is not None or bool(bindings)
    if stated:
        path = parse(recipe, bindings)
    elif not isinstance(resume, bool):
        path = None  # a run directory alone: nothing is said but its settings
        gin.clear_config()
    else:
        path = None  # what the caller configured gin with
    said = gin_bindings()
    for key, value in overrides.items():
        said.setdefault(("", TRAIN), {})[key] = value
    if isinstance(resume, bool):
        s = current_settings(**overrides)
        from zoo.training.rundir import find_for_resume

        run_dir = find_for_resume(s.runs_dir, s.experiment, s.run_name, trim=False).path
    else:
        run_dir = Path(resume)
        if not run_dir.is_dir():
            raise ConfigError(
                f"--resume takes a run directory (runs/<experiment>/<run>); {run_dir} is not "
                "one (to resume a recipe's run: zoo train RECIPE --resume)."
            )
    saved_file = RunDir(run_dir).operative_config
    if not saved_file.is_file():
        if not stated:
            raise ConfigError(f"{run_dir} has no {saved_file.name}: it is not a run directory.")
        return run_dir, path  # a run from before settings were saved: the recipe's settings
    parse(None, [saved_file.read_text()], clear=True)
    saved = gin_bindings()
    differences, epochs = compare(said, saved)
    if differences:
        raise ConfigError(
            f"{run_dir} was trained with other settings than these: {'; '.join(differences)}. "
            f"A resumed run trains what it trained (only train.epochs may differ): "
            f"{resume_command(run_dir)}"
        )
    if epochs is not None:
        gin.bind_parameter(f"{TRAIN}.epochs", epochs)
    _point_at(run_dir, saved)
    return run_dir, path or _recipe_of(run_dir)


def compare(said: Mapping, saved: Mapping) -> tuple[list[str], int | None]:
    """What ``said`` binds differently from the run's ``saved`` operative config, as
    ``name = value (the run has old)``, and the new ``train.epochs`` if one was given.
    Bindings of configurables the run never called do nothing and are not compared."""
    differences: list[str] = []
    epochs = None
    for key, params in said.items():
        if key not in saved:
            continue
        scope, selector = key
        short = selector.split(".")[-1]
        name = f"{scope}/{short}" if scope else short
        for param, value in params.items():
            if param not in saved[key] or _same(value, saved[key][param]):
                continue
            old = saved[key][param]
            if selector == TRAIN and param == "run_name" and old is None:
                continue  # a timestamped run: its folder is its name
            if selector == TRAIN and param == "epochs" and isinstance(value, int):
                epochs = value
                continue
            differences.append(f"{name}.{param} = {value!r} (the run has {old!r})")
    return differences, epochs


def _same(a: Any, b: Any) -> bool:
    try:
        if a == b and type(a) is type(b):
            return True
    except Exception:  # objects without a usable ==
        pass
    return repr(a) == repr(b)


def _point_at(run_dir: Path, saved: Mapping) -> None:
    """Bind ``train.runs_dir`` and ``train.run_name`` to ``run_dir`` (a timestamped run, or a
    run directory given from another working directory)."""
    train = saved.get(("", TRAIN), {})
    experiment = train.get("experiment")
    if experiment is not None and run_dir.parent.name != experiment:
        raise ConfigError(
            f"{run_dir} is not a run of experiment {experiment!r}: its folder must be "
            f"runs/{experiment}/<run>."
        )
    runs_dir = run_dir.parent.parent
    if Path(train.get("runs_dir") or "runs").resolve() != runs_dir.resolve():
        gin.bind_parameter(f"{TRAIN}.runs_dir", str(runs_dir))
    if train.get("run_name") != run_dir.name:
        gin.bind_parameter(f"{TRAIN}.run_name", run_dir.name)


def _recipe_of(run_dir: Path) -> Path | None:
    """The recipe the run was started from, as its ``summary.json`` says."""
    recipe = RunDir(run_dir).read_summary().get("recipe")
    return Path(recipe) if recipe else None
