"""Phase 4 of a run: tracking. One MLflow run (new, or the same one again on resume) and
one TensorBoard log, written side by side by :class:`callbacks.logger.SideBySideLogger`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from zoo.tracking.rundir import RunDir
from zoo.training.settings import RunOptions
from zoo.training.setup import Setup


def previous_run_id(setup: Setup, run_dir: RunDir | None) -> str | None:
    """The MLflow run a resumed run continues: from ``summary.json``, else found by the run
    directory's tag (``summary.json`` is missing after a hard kill)."""
    if run_dir is None or not run_dir.resumed:
        return None
    run_id = (run_dir.previous.get("mlflow") or {}).get("run_id")
    if run_id:
        return run_id
    from zoo.tracking import find_run_by_dir

    s = setup.settings
    return find_run_by_dir(s.experiment, run_dir.path, s.tracking_uri)


def _log_text(handle, name: str, text: str) -> None:
    """``text`` as the MLflow artifact ``name``."""
    import tempfile
    from pathlib import Path

    if not text:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text + "\n")
        handle.log_artifact(path)


def _missing_params(handle, params: dict[str, Any]) -> None:
    """The params a resumed MLflow run lacks (a hard kill right after it was created)."""
    with contextlib.suppress(Exception):  # a dead server: the metrics path says so
        have = handle.client.get_run(handle.run_id).data.params
        missing = {k: v for k, v in params.items() if k not in have}
        if missing:
            handle.log_params(missing)


def _reconcile(setup: Setup, run_dir: RunDir, logger) -> None:
    """Fill in the trackers from ``history.csv`` (already cut back to the checkpoint): a hard
    kill between the checkpoint and the trackers' writes left its epoch out of them."""
    import csv

    from callbacks.logger import current_learning_rate

    rows: list[dict[str, float]] = []
    if run_dir.history.is_file():
        with open(run_dir.history, newline="") as f:
            for row in csv.DictReader(f):
                rows.append(
                    {
                        k: float(v)
                        for k, v in row.items()
                        if k != "epoch" and v not in (None, "", "NA")
                    }
                )
    rate = None
    if rows and setup.initial_epoch == len(rows) and getattr(setup.net, "optimizer", None):
        rate = current_learning_rate(setup.net.optimizer)  # where the checkpoint stopped
    filled = logger.reconcile(rows, rate)
    for tracker, steps in filled.items():
        if steps:
            print(
                f"resume: wrote the epochs {[s + 1 for s in steps]} that {tracker} lacked",
                flush=True,
            )


def run_tags(setup: Setup, run_dir: RunDir | None, options: RunOptions) -> dict[str, str]:
    from zoo.tracking import RUN_DIR_TAG

    tags = {"zoo.model": setup.settings.model, "zoo.dataset": setup.settings.dataset}
    if run_dir is not None:
        tags[RUN_DIR_TAG] = str(run_dir.path.resolve())
    tags.update(options.tags)
    return tags


@contextlib.contextmanager
def open_tracking(
    setup: Setup, run_dir: RunDir | None, options: RunOptions
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(mlflow handle or None, logger)``; the MLflow run ends with the block
    (FINISHED, FAILED or KILLED), and the TensorBoard writer is flushed and closed."""
    from callbacks.logger import SideBySideLogger
    from zoo.tracking import mlflow_run

    s = setup.settings
    run_id = previous_run_id(setup, run_dir) if options.mlflow else None
    name = run_dir.name if run_dir is not None else s.run_name or s.model
    context = (
        mlflow_run(
            s.experiment,
            name,
            uri=s.tracking_uri,
            run_id=run_id,
            parent_run_id=options.parent_run_id,
            tags=run_tags(setup, run_dir, options),
        )
        if options.mlflow
        else contextlib.nullcontext(None)
    )
    fresh = run_id is None and not (run_dir is not None and run_dir.resumed)
    with context as handle:
        if handle is not None and run_id is None:
            handle.log_params(setup.params)
            _log_text(handle, "layer_table.txt", setup.layer_table)
        elif handle is not None:
            _missing_params(handle, setup.params)
        logger = SideBySideLogger(
            run_dir.tensorboard if options.tensorboard and run_dir is not None else None,
            handle.client if handle else None,
            handle.run_id if handle else None,
            hparams=setup.params if fresh else None,
            operative_config=setup.operative_config if fresh else None,
            model_summary=setup.model_summary if fresh else None,
            log_every_n_steps=s.log_every_n_steps,
        )
        if run_dir is not None and run_dir.resumed:
            _reconcile(setup, run_dir, logger)
        try:
            yield handle, logger
        finally:
            logger.close()
