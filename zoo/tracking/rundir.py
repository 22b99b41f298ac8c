"""The layout of a run directory: the one place that names its files.

``runs/<experiment>/<run_name>/`` holds ``operative_config.gin``, ``tensorboard/``,
``checkpoints/`` (``last.keras`` and ``last.json`` with the epochs it holds, ``best.keras``),
``history.csv`` (one row per finished epoch), ``summary.json``, ``evaluation/``, a text run's
``vocabulary.txt``, ``zoo show``'s ``show/``, a Ray Train run's ``console.log``, a sweep's ``lr_finder.csv`` and
``lr_finder.png``. A tuning folder is laid out alike, with ``tune.json`` and one run directory
per trial under ``trials/`` (with its ``record.json``). Training writes these files, analysis and comparison read them:
the layout lives beside the other records of a run (the MLflow store, the TensorBoard
readers), which every one of them may import. JSON files are written atomically.
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_MEMBER = "zoo.json"  # in a checkpoint's zip: {"epochs": N}
CHECKPOINTS = ("best", "last")  # the checkpoints a run keeps, the preferred one first


@dataclass
class RunDir:
    """A run's folder (every path in it) and what an interrupted run left in it."""

    path: Path
    experiment: str = ""
    name: str = ""
    resumed: bool = False
    previous: dict[str, Any] = field(default_factory=dict)
    completed_epochs: int = 0

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.experiment = self.experiment or self.path.parent.name
        self.name = self.name or self.path.name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, which: str = "last") -> Path:
        """``checkpoints/<which>.keras`` (``last`` or ``best``)."""
        return self.checkpoints / f"{which}.keras"

    @property
    def last(self) -> Path:
        return self.checkpoint("last")

    @property
    def best(self) -> Path:
        return self.checkpoint("best")

    @property
    def last_state(self) -> Path:
        """``checkpoints/last.json``: the epochs ``last.keras`` holds, for readers."""
        return self.checkpoints / "last.json"

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def operative_config(self) -> Path:
        return self.path / "operative_config.gin"

    @property
    def console(self) -> Path:
        """What a Ray Train run's chief worker prints (the driver follows it)."""
        return self.path / "console.log"

    @property
    def vocabulary(self) -> Path:
        """A text run's vocabulary, one token a line (``zoo embeddings`` reads it)."""
        return self.path / "vocabulary.txt"

    @property
    def evaluation(self) -> Path:
        """The per-class evaluation of the test split (also an MLflow artifact folder)."""
        return self.path / "evaluation"

    @property
    def show(self) -> Path:
        """``zoo show``'s pictures (and, under ``tensorboard/``, their image summaries)."""
        return self.path / "show"

    @property
    def show_log(self) -> Path:
        return self.tensorboard / self.show.name

    @property
    def sweep_csv(self) -> Path:
        return self.path / "lr_finder.csv"

    @property
    def sweep_plot(self) -> Path:
        return self.path / "lr_finder.png"

    @property
    def tune_state(self) -> Path:
        """A tuning folder's ``tune.json``."""
        return self.path / "tune.json"

    @property
    def trials(self) -> Path:
        return self.path / "trials"

    @property
    def trial_record(self) -> Path:
        """A tuning trial's ``record.json`` (what the search reads back on resume)."""
        return self.path / "record.json"

    def trial(self, trial_id: str) -> RunDir:
        """The run directory of one trial of a tuning folder."""
        return RunDir(self.trials / trial_id, self.experiment, trial_id)

    def read_summary(self) -> dict[str, Any]:
        """``summary.json`` as a dict; empty when it is missing or unreadable."""
        try:
            return json.loads(self.summary.read_text())
        except (OSError, ValueError):
            return {}

    def existing_checkpoint(self) -> Path | None:
        """The best checkpoint, else the last one; None without either."""
        for which in CHECKPOINTS:
            if self.checkpoint(which).is_file():
                return self.checkpoint(which)
        return None


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
    if not run_dir.last.is_file():
        return 0
    epochs = saved_epochs(run_dir.last)
    if epochs is not None:
        return epochs
    if run_dir.last_state.is_file():
        try:
            return int(json.loads(run_dir.last_state.read_text())["epochs"])
        except (ValueError, KeyError, TypeError):
            pass
    return history_rows(run_dir.history)
