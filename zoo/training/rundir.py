"""Phase 2 of a run: its directory, new or found again for ``--resume``.

The files in it are named by :class:`zoo.tracking.rundir.RunDir`, the one owner of the
layout; this module decides which folder a run uses.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from zoo.errors import ConfigError
from zoo.tracking.rundir import RunDir, checkpointed_epochs, truncate_history


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
        run_dir = RunDir(path, experiment, run_name or path.name, resumed=True)
        if run_dir.last.is_file() or (run_name and run_dir.operative_config.is_file()):
            run_dir.previous = run_dir.read_summary()
            run_dir.completed_epochs = checkpointed_epochs(run_dir)
            if trim:
                truncate_history(run_dir.history, run_dir.completed_epochs)
            return run_dir
    where = exp_dir / run_name if run_name else exp_dir
    missing = RunDir(where).last.relative_to(where)
    raise ConfigError(f"Nothing to resume: no {missing} under {where}.")


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
