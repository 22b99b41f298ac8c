"""Phase 2 of a run: its directory, new or found again for ``--resume``.

``runs/<experiment>/<run_name>/`` holds ``operative_config.gin``, ``tensorboard/``,
``checkpoints/`` (``last.keras`` and ``last.json`` with the epochs it holds, ``best.keras``),
``history.csv`` (one row per finished epoch) and ``summary.json``. JSON files are written
atomically: a complete new file replaces the old one.
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError

STATE_MEMBER = "zoo.json"  # in a checkpoint's zip: {"epochs": N}


@dataclass
class RunDir:
    """A run's folder and what an interrupted run left in it."""

    path: Path
    experiment: str
    name: str
    resumed: bool = False
    previous: dict[str, Any] = field(default_factory=dict)
    completed_epochs: int = 0

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` to ``path`` atomically (a kill leaves the old file or the new one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_history(path: Path) -> dict[str, list[float]]:
    """``history.csv`` as ``metric -> per-epoch values``."""
    if not path.is_file():
        return {}
    history: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            for key, value in row.items():
                # keras' CSVLogger writes "NA" for the val_ columns of a run without validation
                if key != "epoch" and value not in (None, "", "NA"):
                    history.setdefault(key, []).append(float(value))
    return history


def history_rows(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def truncate_history(path: Path, epochs: int) -> None:
    """Keep the header and the first ``epochs`` rows (rows of an epoch not checkpointed go)."""
    if not path.is_file() or history_rows(path) <= epochs:
        return
    lines = path.read_text().splitlines(keepends=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(lines[: epochs + 1]))
    os.replace(tmp, path)


def saved_epochs(path: Path) -> int | None:
    """The epochs a checkpoint says it holds (None when it does not say)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return int(json.loads(archive.read(STATE_MEMBER))["epochs"])
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None


def checkpointed_epochs(run_dir: RunDir) -> int:
    """Epochs held by ``last.keras``: as the file itself says (written with it, so a kill
    between the two cannot make them disagree), else ``last.json``, else the rows of
    ``history.csv`` (runs saved before checkpoints said it); 0 without a checkpoint."""
    last = run_dir.checkpoints / "last.keras"
    if not last.is_file():
        return 0
    epochs = saved_epochs(last)
    if epochs is not None:
        return epochs
    state = run_dir.checkpoints / "last.json"
    if state.is_file():
        try:
            return int(json.loads(state.read_text())["epochs"])
        except (ValueError, KeyError, TypeError):
            pass
    return history_rows(run_dir.history)


def default_run_name(model: str) -> str:
    return f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def create(runs_dir: str | Path, experiment: str, run_name: str | None, model: str) -> RunDir:
    """A new, empty run directory. Without ``run_name``, a timestamped name that no other
    run holds (two runs started in the same second get ``-2``, ``-3``...)."""
    exp_dir = Path(runs_dir) / experiment
    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the runs directory {exp_dir}: {exc.strerror}.") from None
    if run_name:
        path = exp_dir / run_name
        if path.exists() and any(path.iterdir()):
            raise ConfigError(
                f"Run directory {path} already exists: choose another train.run_name or pass "
                "--resume."
            )
        path.mkdir(parents=True, exist_ok=True)
        return RunDir(path, experiment, run_name)
    base = default_run_name(model)
    for i in range(1, 1000):
        path = exp_dir / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir()  # atomic: exactly one process creates it
        except FileExistsError:
            continue
        return RunDir(path, experiment, path.name)
    raise ConfigError(f"Could not find a free run name under {exp_dir}.")


def find_for_resume(
    runs_dir: str | Path, experiment: str, run_name: str | None, trim: bool = True
) -> RunDir:
    """The run to continue: ``run_name``, else the newest run of ``experiment`` with a
    checkpoint. A named run stopped before its first checkpoint starts again from epoch 0
    in its folder (its saved settings are there). Its ``history.csv`` is cut back to the
    epochs its checkpoint holds (unless ``trim`` is False: a distributed run's other workers
    only read the chief's folder)."""
    exp_dir = Path(runs_dir) / experiment
    if run_name:
        candidates = [exp_dir / run_name]
    else:
        folders = (d for d in exp_dir.glob("*") if d.is_dir())
        candidates = sorted(folders, key=lambda d: d.stat().st_mtime, reverse=True)
    for path in candidates:
        checkpoint = (path / "checkpoints" / "last.keras").is_file()
        if checkpoint or (run_name and (path / "operative_config.gin").is_file()):
            run_dir = RunDir(path, experiment, run_name or path.name, resumed=True)
            if run_dir.summary.is_file():
                try:
                    run_dir.previous = json.loads(run_dir.summary.read_text())
                except ValueError:
                    run_dir.previous = {}
            run_dir.completed_epochs = checkpointed_epochs(run_dir)
            if trim:
                truncate_history(run_dir.history, run_dir.completed_epochs)
            return run_dir
    where = exp_dir / run_name if run_name else exp_dir
    raise ConfigError(f"Nothing to resume: no checkpoints/last.keras under {where}.")


def open_run_dir(settings, options) -> RunDir:
    """The run directory of this invocation: given, found for resume, or new."""
    if options.run_dir is not None:
        path = Path(options.run_dir)
        path.mkdir(parents=True, exist_ok=True)
        return RunDir(path, settings.experiment, options.run_name or path.name)
    name = options.run_name or settings.run_name
    if options.resume:
        return find_for_resume(settings.runs_dir, settings.experiment, name)
    return create(settings.runs_dir, settings.experiment, name, settings.model)
