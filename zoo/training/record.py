"""Phases 6 and 7 of a run: evaluate on the test split, then record what happened.

Whatever way a run ends (finished, NaN, exception, signal), :meth:`Record.write` leaves a
``summary.json`` with its status, the MLflow run gets the same status and the summary and
history as artifacts, and a stopped run prints the one line that resumes it.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.tracking.rundir import RunDir, history_rows, read_history, write_json
from zoo.training.fit import FitOutcome, monitor_for
from zoo.training.settings import RunOptions
from zoo.training.setup import Setup


@dataclass
class RunResult:
    """What a finished (or stopped) run produced."""

    run_dir: Path
    run_name: str
    experiment: str
    status: str
    mlflow_run_id: str | None
    tracking_uri: str | None
    history: dict[str, list[float]] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    fit_history: dict[str, list[float]] = field(default_factory=dict)  # this call's epochs

    @classmethod
    def of(cls, run_dir: Path, summary: dict[str, Any], **given: Any) -> RunResult:
        """The result a run's summary describes (a run, a Ray Train run, a cross-validation
        parent); ``given`` fields are what the caller holds beyond it (the history...)."""
        mlflow = summary.get("mlflow") or {}
        for key in ("run_name", "experiment", "status"):
            if key in summary:
                given.setdefault(key, summary[key])
        fields = {
            "mlflow_run_id": mlflow.get("run_id"),
            "tracking_uri": mlflow.get("tracking_uri"),
            "test_metrics": summary.get("test_metrics", {}),
            "summary": summary,
        }
        return cls(run_dir=Path(run_dir), **{**fields, **given})


def evaluate_test(setup: Setup, logger, step: int) -> dict[str, float]:
    """The test split's metrics (``test_<metric>``), logged at the last epoch's step. With
    test-time augmentation they are the augmented model's, and the plain model's are logged
    as ``test_plain_<metric>``."""
    if setup.data.test is None:
        return {}
    values = setup.test_net.evaluate(setup.data.test, return_dict=True, verbose=0)
    metrics = {f"test_{k}": float(v) for k, v in values.items()}
    if setup.test_net is not setup.eval_net:
        plain = setup.eval_net.evaluate(setup.data.test, return_dict=True, verbose=0)
        metrics.update({f"test_plain_{k}": float(v) for k, v in plain.items()})
        if setup.distribution is None or setup.distribution.chief:
            print(
                f"test-time augmentation: {setup.settings.test_time_augment} "
                "(test_plain_* without it)",
                flush=True,
            )
    logger.log(metrics, step)
    return metrics


def evaluate_classes(
    setup: Setup, run_dir: RunDir, logger, handle, step: int, say: bool = True
) -> dict[str, float]:
    """A classification run's confusion matrix, per-class precision / recall / F1 and most
    confidently wrong examples: in ``evaluation/``, TensorBoard (the same metric names as
    MLflow, and the pictures) and MLflow (metrics and the folder as artifacts)."""
    from zoo.analysis.evaluation import evaluate_classification, log_images

    if setup.distribution is not None and not setup.distribution.chief:
        return {}  # the chief alone predicts, prints and writes the evaluation
    report = evaluate_classification(
        setup.test_net,
        setup.data,
        run_dir.evaluation,
        vocabulary=setup.data.extras.get("vocabulary"),
    )
    if report is None:
        return {}
    logger.log(report.metrics, step)
    if logger.writer is not None:
        log_images(logger.writer, report.images, step)
    if handle is not None and logger.mlflow_reachable:
        with contextlib.suppress(Exception):
            handle.client.log_artifacts(
                handle.run_id, str(run_dir.evaluation), run_dir.evaluation.name
            )
    if say:
        print(report.text, flush=True)
    return report.metrics


class Record:
    """The summary of one run, filled in phase by phase and written however it ends."""

    def __init__(self, setup: Setup, run_dir: RunDir | None, options: RunOptions):
        from zoo.models.stats import count_params

        self.setup, self.run_dir, self.options = setup, run_dir, options
        self.started = time.time()
        self.handle = None
        self.uri: str | None = None
        self.history: dict[str, list[float]] = {}
        self.test_metrics: dict[str, float] = {}
        self.fit_history: dict[str, list[float]] = {}
        s = setup.settings
        trainable, frozen = count_params(setup.net)
        self.summary: dict[str, Any] = {
            "run_name": run_dir.name if run_dir else s.run_name,
            "experiment": s.experiment,
            "recipe": options.recipe,
            "model": s.model,
            "dataset": s.dataset,
            "seed": s.seed,  # the data splits' seed: zoo show loads the run's data again
            "status": "RUNNING",
            "trainable_params": trainable,
            "non_trainable_params": frozen,
            "input_shape": list(setup.data.input_shape),
            "precision": setup.precision.policy,
            "precision_reason": setup.precision.reason,
        }

    def attach(self, handle) -> None:
        """The MLflow run this record reports to (None without MLflow)."""
        self.handle = handle
        if handle is not None:
            self.uri = handle.uri
            self.summary["mlflow"] = {"tracking_uri": self.uri, "run_id": handle.run_id}

    def fitted(self, fit: FitOutcome) -> None:
        self.fit_history = fit.keras_history
        if fit.failure:
            self.summary["failure"] = fit.failure
            self.summary["status"] = "FAILED"
            if self.handle is not None:
                with contextlib.suppress(Exception):  # the reason is in summary.json anyway
                    self.handle.fail(fit.failure)
            print(f"stopped: {fit.failure}", flush=True)
        if fit.stopped_early:
            self.summary["stopped_early"] = True

    def finished(self, test_metrics: dict[str, float]) -> None:
        self.test_metrics = test_metrics
        if self.summary["status"] == "RUNNING":
            self.summary["status"] = "FINISHED"

    def stopped(self, exc: BaseException) -> None:
        """An exception or a signal ended the run: say so, and how to resume it."""
        from zoo.training.stops import stop_reason

        if isinstance(exc, KeyboardInterrupt):
            self.summary.update(status="KILLED", failure=stop_reason(exc))
        else:
            self.summary.update(status="FAILED", failure=f"{type(exc).__name__}: {exc}"[:500])
        if self.run_dir is not None and self.options.checkpoints:
            print(f"{self.summary['failure']}; to continue: {self.resume_command()}", flush=True)

    def resume_command(self) -> str:
        """The shortest command that resumes exactly this run: its directory (the run's
        own settings are in it)."""
        from zoo.training.resume import resume_command

        return resume_command(self.run_dir.path if self.run_dir else Path("RUN_DIR"))

    def write(self, logger=None) -> None:
        """``summary.json`` and the MLflow artifacts, with the status as it stands. What a
        dead MLflow server missed is sent again first, and what still fails is named."""
        s = self.summary
        reachable = self._retry_mlflow(logger)
        if self.run_dir is not None:
            self.history = read_history(self.run_dir.history)
            s["epochs_completed"] = history_rows(self.run_dir.history)
        previous = self.run_dir.previous if self.run_dir is not None else {}
        s.update(
            final_metrics={k: v[-1] for k, v in self.history.items() if v},
            test_metrics=self.test_metrics,
            wall_time_s=round(time.time() - self.started + previous.get("wall_time_s", 0.0), 2),
        )
        self._best()
        if self.run_dir is None:
            return
        write_json(self.run_dir.summary, s)
        if self.handle is not None and reachable:
            with contextlib.suppress(Exception):
                self.handle.log_metrics({"wall_time_s": s["wall_time_s"]}, 0)
                self.handle.log_artifact(self.run_dir.summary)
                if self.run_dir.history.is_file():
                    self.handle.log_artifact(self.run_dir.history)

    def _retry_mlflow(self, logger) -> bool:
        """Send the metrics MLflow missed; False (and ``summary["mlflow"]["unsent"]``) when
        the server still does not answer."""
        if logger is None or self.handle is None:
            return True
        missing = logger.retry_unsent()
        if not missing:
            return True
        self.summary["mlflow"]["unsent"] = {"steps": missing, "error": logger.mlflow_error}
        print(
            f"MLflow still does not answer: the metrics of steps {missing} are only in "
            "TensorBoard and history.csv (summary.json lists them).",
            flush=True,
        )
        return False

    def _best(self) -> None:
        from zoo.training.checkpoints import better

        monitor = monitor_for(self.setup)
        values = self.history.get(monitor)
        if not values:
            return
        is_better = better(monitor)
        best = 0
        for i, v in enumerate(values):
            if is_better(v, values[best]):
                best = i
        self.summary["best"] = {"monitor": monitor, "epoch": best, "value": values[best]}

    def result(self) -> RunResult:
        run_dir = self.run_dir.path if self.run_dir else Path(".")
        return RunResult.of(
            run_dir,
            self.summary,
            tracking_uri=self.uri,
            history=self.history,
            test_metrics=self.test_metrics,
            fit_history=self.fit_history,
        )


def announce(result: RunResult, runs_dir: str, options: RunOptions) -> None:
    """The lines a user reads last: test metrics and the commands that show the run."""
    from zoo.tracking import ui_command

    out = sys.stdout
    if result.test_metrics:
        print("test: " + "  ".join(f"{k[5:]} {v:.4f}" for k, v in result.test_metrics.items()))
    print(f"run directory: {result.run_dir}", file=out)
    if options.tensorboard:
        print(f"TensorBoard:   tensorboard --logdir {Path(runs_dir) / result.experiment}")
    if result.tracking_uri:
        print(
            f"MLflow:        {ui_command(result.tracking_uri)}   "
            f"(experiment '{result.experiment}', run '{result.run_name}')",
            flush=True,
        )
