"""Finding what an experiment folder holds and reading what each run says about itself.

An experiment folder holds more than plain runs: ``zoo find-lr`` sweeps, tuning folders
(``tune-*``: a ``tune.json`` and one run directory per trial under ``trials/``),
cross-validation parents (one run directory per fold inside), failed or killed runs and runs
trained without one of the trackers. :func:`survey` turns the names a user gives into the run
directories worth reading and, for everything else, one line saying why it was left out.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.tracking.rundir import RunDir


@dataclass
class RunInfo:
    """What a run directory says about itself, and where its MLflow twin lives.

    ``kind`` is ``run`` (a training run, a fold or a trial: one step per epoch) or ``find-lr``
    (a learning-rate sweep: one step per batch); ``status`` is the run's own (``FINISHED``,
    ``FAILED``, ``KILLED``...), or None when its summary names none.
    """

    run_dir: Path
    experiment: str
    run_name: str
    run_id: str | None
    tracking_uri: str | None
    summary: dict[str, Any] = field(default_factory=dict)
    kind: str = "run"
    status: str | None = None

    @property
    def label(self) -> str:
        return f"{self.experiment}/{self.run_name}"


@dataclass(frozen=True)
class LeftOut:
    """A folder :func:`zoo.compare` did not compare, and why (one line)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def is_run(path: Path) -> bool:
    """True when ``path`` is a run directory (it holds a ``summary.json``)."""
    return RunDir(path).summary.is_file()


def is_search(path: Path) -> bool:
    """True when ``path`` is a tuning folder (it holds a ``tune.json``)."""
    return RunDir(path).tune_state.is_file()


def _summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(RunDir(path).summary.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _sub_runs(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if d.is_dir() and is_run(d))


def expand(path: Path) -> tuple[list[Path], list[LeftOut]]:
    """The run directories in one run, search or cross-validation folder, and what is left out.

    A tuning folder gives its trials; a cross-validation parent gives its folds (its own MLflow
    run holds only the statistics over the folds, with no TensorBoard twin); a run gives itself.
    """
    if is_search(path):
        folder = RunDir(path).trials
        trials = _sub_runs(folder) if folder.is_dir() else []
        note = (
            "a tuning folder: the search's own MLflow run has no TensorBoard twin; "
            f"its {len(trials)} trial(s) are compared"
        )
        return trials, [LeftOut(path, note)]
    if is_run(path):
        summary = _summary(path)
        if "fold_runs" in summary or "folds" in summary:
            folds = _sub_runs(path)
            note = (
                "a cross-validation parent: its statistics over the folds live in MLflow only; "
                f"its {len(folds)} fold(s) are compared"
            )
            return folds, [LeftOut(path, note)]
        return [path], []
    missing = RunDir(path).summary.name
    return [], [LeftOut(path, f"not a run: no {missing} (or the run died before writing it)")]


def experiment_folder(folder: Path) -> tuple[list[Path], list[LeftOut]]:
    """Every run directory an experiment folder holds, and a line for each folder left out."""
    runs: list[Path] = []
    left: list[LeftOut] = []
    for child in sorted(d for d in folder.iterdir() if d.is_dir()):
        found, skipped = expand(child)
        runs += found
        left += skipped
    return runs, left


def _holds_runs(path: Path) -> bool:
    return path.is_dir() and any(d.is_dir() for d in path.iterdir())


def survey(
    targets: Sequence[str | Path] = (), experiment: str | None = None, runs_dir: str | Path = "runs"
) -> tuple[list[Path], list[LeftOut]]:
    """Run directories named by ``targets`` (runs, tuning or cross-validation folders,
    experiment folders or experiment names under ``runs_dir``) and by ``experiment``, in order
    and without duplicates, with one :class:`LeftOut` per folder that is no run to compare."""
    runs_root = Path(runs_dir)
    names = [str(t) for t in targets] + ([experiment] if experiment else [])
    if not names:
        raise ZooError("Name the runs to compare: zoo compare RUN_DIR... or --experiment NAME.")
    found: list[Path] = []
    left: list[LeftOut] = []
    for name in names:
        path = Path(name)
        if is_run(path) or is_search(path):
            runs, skipped = expand(path)
        elif _holds_runs(path):
            runs, skipped = experiment_folder(path)
        elif _holds_runs(runs_root / name):
            runs, skipped = experiment_folder(runs_root / name)
        else:
            raise ZooError(
                f"{name!r} is neither a run directory (with summary.json) nor an experiment "
                f"with runs in {path} or {runs_root / name}: check the name or pass --runs-dir."
            )
        seen = {f.resolve() for f in found}
        found += [r for r in runs if r.resolve() not in seen]
        left += [s for s in skipped if s not in left]
    return found, left


def find_runs(
    targets: Sequence[str | Path] = (), experiment: str | None = None, runs_dir: str | Path = "runs"
) -> list[Path]:
    """The run directories of :func:`survey`, without the lines on what was left out."""
    return survey(targets, experiment, runs_dir)[0]


def load_run(run_dir: str | Path, tracking_uri: str | None = None) -> RunInfo:
    """Read ``summary.json`` of ``run_dir``; ``tracking_uri`` overrides the recorded store.

    A training run records ``{"mlflow": {"run_id", "tracking_uri"}}``; a find-lr sweep records
    ``mlflow_run_id`` and no store, so its store is the default one (``MLFLOW_TRACKING_URI``,
    else MLflow's default) unless ``tracking_uri`` names another.
    """
    run_dir = Path(run_dir)
    try:
        summary = json.loads(RunDir(run_dir).summary.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ZooError(f"Cannot read {RunDir(run_dir).summary}: {exc}.") from exc
    mlflow_info = summary.get("mlflow") or {}
    run_id = mlflow_info.get("run_id") or summary.get("mlflow_run_id")
    uri = tracking_uri or mlflow_info.get("tracking_uri") or summary.get("tracking_uri")
    if run_id and not uri:
        from zoo.tracking import tracking_uri as default_uri

        uri = default_uri()
    return RunInfo(
        run_dir=run_dir,
        experiment=str(summary.get("experiment", run_dir.parent.name)),
        run_name=str(summary.get("run_name", run_dir.name)),
        run_id=run_id,
        tracking_uri=uri,
        summary=summary,
        kind=str(summary.get("kind", "run")),
        status=summary.get("status"),
    )
