"""Finding run directories and reading what each one says about itself (``summary.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ZooError


@dataclass
class RunInfo:
    """What a run directory says about itself, and where its MLflow twin lives."""

    run_dir: Path
    experiment: str
    run_name: str
    run_id: str | None
    tracking_uri: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.experiment}/{self.run_name}"


def is_run(path: Path) -> bool:
    """True when ``path`` is a run directory (it holds a ``summary.json``)."""
    return (path / "summary.json").is_file()


def runs_in(folder: Path) -> list[Path]:
    """The run directories directly inside ``folder``, sorted by name."""
    return sorted(d for d in folder.iterdir() if d.is_dir() and is_run(d))


def find_runs(
    targets: Sequence[str | Path] = (), experiment: str | None = None, runs_dir: str | Path = "runs"
) -> list[Path]:
    """Run directories named by ``targets`` (run folders, experiment folders or experiment
    names under ``runs_dir``) and by ``experiment``, in order, without duplicates."""
    runs_root = Path(runs_dir)
    names = [str(t) for t in targets] + ([experiment] if experiment else [])
    if not names:
        raise ZooError("Name the runs to compare: zoo compare RUN_DIR... or --experiment NAME.")
    found: list[Path] = []
    for name in names:
        path = Path(name)
        if is_run(path):
            runs = [path]
        elif path.is_dir() and runs_in(path):
            runs = runs_in(path)
        elif (runs_root / name).is_dir() and runs_in(runs_root / name):
            runs = runs_in(runs_root / name)
        else:
            raise ZooError(
                f"{name!r} is neither a run directory (with summary.json) nor an experiment "
                f"with runs in {path} or {runs_root / name}: check the name or pass --runs-dir."
            )
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


def load_run(run_dir: str | Path, tracking_uri: str | None = None) -> RunInfo:
    """Read ``summary.json`` of ``run_dir``; ``tracking_uri`` overrides the recorded store."""
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ZooError(f"Cannot read {run_dir / 'summary.json'}: {exc}.") from exc
    mlflow_info = summary.get("mlflow") or {}
    return RunInfo(
        run_dir=run_dir,
        experiment=str(summary.get("experiment", run_dir.parent.name)),
        run_name=str(summary.get("run_name", run_dir.name)),
        run_id=mlflow_info.get("run_id"),
        tracking_uri=tracking_uri or mlflow_info.get("tracking_uri"),
        summary=summary,
    )
