"""One trial, the same for both backends: bind its values into gin, then train it on the
training path of ``zoo train`` (``zoo.training``).

A trial re-parses the recipe with its values appended as bindings (``gin.clear_config``
first: a finalized gin config is locked, and a Ray worker has no config at all), then calls
the same setup phase (seed, data, model, optimizer with its schedule) and the same
tracking / fit / record phases as ``zoo train``, with the tuner's callbacks and budget. A
trial therefore trains exactly what ``zoo train`` would train with the same bindings:
schedule, plateau reduction, early stopping, the NaN stop, precision and seed included. It
lives in ``trials/<id>/`` of the tuning folder, laid out like a run directory, and in an
MLflow run nested under the tuning run; it does not look at the test split.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gin

from tuners.space import bindings_for
from zoo.config import quiet_includes
from zoo.errors import ConfigError

_INCLUDE = re.compile(r"""^\s*include\s+['"]([^'"]+)['"]\s*$""")


def inline_includes(text: str, recipe_dir: str | None, depth: int = 0) -> str:
    """Recipe text with each ``include 'x.gin'`` replaced by that file's (inlined) text."""
    from zoo.config import recipe_dirs

    if depth > 10:
        raise ConfigError("Recipes include each other in a loop.")
    out = []
    for line in text.splitlines():
        match = _INCLUDE.match(line)
        if not match:
            out.append(line)
            continue
        name = match.group(1)
        dirs = [Path(recipe_dir)] if recipe_dir else []
        candidates = [Path(name)] + [d / name for d in [*dirs, *recipe_dirs()]]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise ConfigError(f"Included recipe {name!r} was not found.")
        out.append(f"# ---- included from {found} ----")
        out.append(inline_includes(found.read_text(), str(found.parent), depth + 1).rstrip())
        out.append(f"# ---- end of {found.name} ----")
    return "\n".join(out) + "\n"


def parse_trial(
    recipe_text: str, bindings: Sequence[str], values: Mapping[str, Any], recipe_dir: str | None
) -> None:
    """Replace gin's config with the recipe text, the user's bindings and the trial's values."""
    from zoo.config import parse

    if recipe_dir:
        gin.add_config_file_search_path(recipe_dir)
    parse(None, [], clear=True)
    with quiet_includes():
        gin.parse_config(recipe_text)
    for b in [*bindings, *bindings_for(values)]:
        parse(None, [b], clear=False)


def train_settings():
    """The ``train.*`` settings gin holds now (:class:`zoo.training.TrainSettings`)."""
    from zoo.training.settings import current_settings

    return current_settings()


def trial_options(
    ctx,
    trial_id: str,
    run_name: str,
    values: Mapping[str, Any],
    *,
    callbacks: Sequence[Any] = (),
    epochs: int | None = None,
    initial_epoch: int | None = None,
):
    """How a trial runs: in ``trials/<id>/``, nested under the tuning run, with the tuner's
    callbacks and budget, its values logged as params, no test split and no signal handlers
    of its own (the search owns the process)."""
    from zoo.tracking.rundir import RunDir
    from zoo.training.settings import RunOptions

    return RunOptions(
        run_dir=RunDir(ctx.tune_dir).trial(trial_id).path,
        run_name=run_name,
        parent_run_id=ctx.parent_run_id,
        mlflow=ctx.parent_run_id is not None,
        extra_callbacks=tuple(callbacks),
        verbose=ctx.fit_verbose,
        epochs=epochs,
        initial_epoch=initial_epoch,
        params=dict(values),
        tags={"zoo.tuning_trial": run_name},
        test=False,
        checkpoints=False,
        handle_signals=False,
        announce=False,
    )


@dataclass
class TrialSetup:
    """A trial ready to fit: the run's setup and its directory."""

    setup: Any
    run_dir: Any
    options: Any

    @property
    def net(self):
        return self.setup.net

    @property
    def data(self):
        return self.setup.data


def build_trial(ctx, options) -> TrialSetup:
    """The settings and setup phases of ``zoo train`` for gin's current (trial)
    configuration: gin is read once, here; fitting the trial later reads none of it."""
    from zoo.training.rundir import open_run_dir
    from zoo.training.settings import read_settings
    from zoo.training.setup import prepare

    settings = read_settings()
    if ctx.tracking_uri:
        settings = settings.replace(tracking_uri=ctx.tracking_uri)
    run_dir = open_run_dir(settings.train, options)
    return TrialSetup(prepare(settings, run_dir, options), run_dir, options)


def fit_trial(trial: TrialSetup, options=None):
    """The tracking, fit and record phases of ``zoo train``; returns the RunResult."""
    from zoo.training.run import execute

    return execute(trial.setup, trial.run_dir, options or trial.options)


@dataclass
class TrialRecord:
    """One finished trial, as the leaderboard shows it."""

    trial: str
    values: dict[str, Any]
    objective: float | None
    epochs: int
    total_epochs: int
    time_s: float
    status: str = "COMPLETED"
    mlflow_run_id: str | None = None
    history: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def save_record(record: TrialRecord, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_json(), indent=2, default=repr) + "\n")


def load_record(path: Path) -> TrialRecord:
    return TrialRecord(**json.loads(path.read_text()))


class Stopwatch:
    def __init__(self):
        self.start = time.time()

    @property
    def seconds(self) -> float:
        return round(time.time() - self.start, 2)
