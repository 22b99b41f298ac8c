"""One trial, the same for both backends: bind its values into gin, build, compile, log.

A trial re-parses the recipe with its values appended as bindings (``gin.clear_config``
first: a finalized gin config is locked, and a Ray worker has no config at all), then builds
data, model and optimizer with the runner's own pieces, so a trial trains exactly what
``zoo train`` would train with the same bindings.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gin

from tuners.space import bindings_for
from zoo.errors import ConfigError


class _NoMissingPath(logging.Filter):
    """Drop gin's 'Path not found' lines: it logs one per search-path miss of an include."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("Path not found")


@contextlib.contextmanager
def quiet_includes() -> Iterator[None]:
    """Silence gin's search-path misses while an ``include`` is resolved."""
    quiet = _NoMissingPath()
    root = logging.getLogger()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


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


def train_settings() -> dict[str, Any]:
    """The ``train.*`` values in force: the runner's defaults overlaid with gin's bindings."""
    from zoo.runner import run

    settings = {
        name: p.default
        for name, p in inspect.signature(run).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    settings.update(gin.get_bindings("zoo.train"))
    return settings


@dataclass
class TrialSetup:
    """What a trial trains: data, compiled model and the ``train.*`` settings."""

    data: Any
    net: Any
    train: dict[str, Any]


def build_trial() -> TrialSetup:
    """Seed, load data, build and compile the model as gin is now configured."""
    import keras

    from zoo import datasets, registry
    from zoo.runner import build_model, compile_model, resolve_loss

    t = train_settings()
    registry.get_spec(t["model"])
    loss_name = resolve_loss(t["loss"], t["target"])
    keras.mixed_precision.set_global_policy(t["precision"])
    keras.utils.set_random_seed(t["seed"])
    data = datasets.load(
        t["dataset"], batch_size=t["batch_size"], target=t["target"], seed=t["seed"]
    )
    next(iter(data.train))  # as the runner does: the same random state when the model is built
    net = build_model(t["model"], data, loss_name, t["from_logits"])
    compile_model(
        net,
        loss_name=loss_name,
        from_logits=t["from_logits"],
        optimizer=t["optimizer"],
        learning_rate=t["learning_rate"],
        metrics=t["metrics"],
        target=t["target"],
    )
    return TrialSetup(data, net, t)


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


@contextlib.contextmanager
def trial_logging(
    *,
    experiment: str,
    run_name: str,
    values: Mapping[str, Any],
    log_dir: Path,
    parent_run_id: str | None,
    tracking_uri: str | None,
    operative_config: str | None = None,
) -> Iterator[Any]:
    """A nested MLflow run plus TensorBoard (with HParams) for one trial: yields the logger."""
    from callbacks.logger import SideBySideLogger
    from callbacks.tracking import log_params, mlflow_run
    from zoo.config import scalar_params

    hparams = scalar_params(dict(values))
    if parent_run_id is None:
        logger = SideBySideLogger(log_dir, hparams=hparams, operative_config=operative_config)
        try:
            yield logger
        finally:
            logger.close()
        return
    with mlflow_run(
        experiment,
        run_name,
        uri=tracking_uri,
        parent_run_id=parent_run_id,
        tags={"zoo.tuning_trial": run_name, "zoo.run_dir": str(log_dir.resolve())},
    ) as handle:
        log_params(handle.client, handle.run_id, hparams)
        logger = SideBySideLogger(
            log_dir,
            handle.client,
            handle.run_id,
            hparams=hparams,
            operative_config=operative_config,
        )
        logger.mlflow_run_id = handle.run_id
        try:
            yield logger
        finally:
            logger.close()


class Stopwatch:
    def __init__(self):
        self.start = time.time()

    @property
    def seconds(self) -> float:
        return round(time.time() - self.start, 2)
