"""Ray Tune backend: the same space mapped to Ray's, Optuna/HyperOpt search, ASHA/HyperBand.

Each trial runs in a Ray worker process, possibly on another machine, where gin has no
configuration: the trainable receives the recipe text, the ``--bind`` lines and its own
values, and parses them again (``tuners.trial.parse_trial``). It logs every epoch to its own
TensorBoard folder and to an MLflow run nested under the tuning run's parent run, and reports
the epoch's metrics to Ray so that the scheduler can stop it early.

``tune.address = None`` starts a local Ray; ``'auto'`` or ``'HOST:6379'`` joins a cluster
started with ``ray start --head`` (see the README).
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from tuners.space import Param, Space, TuneSettings, encode
from tuners.trial import Stopwatch, TrialRecord
from zoo.errors import ConfigError


def to_ray(param: Param):
    """One parameter as a Ray Tune sampler (choices encoded as scalars, as Optuna needs)."""
    from ray import tune

    if param.kind == "choice":
        return tune.choice([encode(v) for v in param.values])
    low, high, step = param.low, param.high, param.step
    if param.kind == "int":
        return (
            tune.qrandint(int(low), int(high), int(step))
            if step
            else tune.randint(int(low), int(high) + 1)
        )
    if param.kind == "logint":
        return tune.lograndint(int(low), int(high) + 1)
    if param.kind == "log":
        return tune.loguniform(float(low), float(high))
    return (
        tune.quniform(float(low), float(high), float(step))
        if step
        else tune.uniform(float(low), float(high))
    )


def ray_space(space: Space) -> dict[str, Any]:
    """Ray's ``param_space`` for ``space``: every parameter is sampled; the trainable drops
    the inactive ones (Optuna and HyperOpt cannot sample conditionally through Ray)."""
    return {p.name: to_ray(p) for p in space}


def _trainable(config: dict, *, ctx, space: Space, max_t: int, checkpoint: bool) -> None:
    """One Ray trial: re-parse gin, then the training path of ``zoo train`` for up to
    ``max_t`` epochs, reporting each epoch to Ray."""
    from ray import tune

    from tuners.trial import build_trial, fit_trial, parse_trial, trial_options

    values = space.active(config)
    parse_trial(ctx.recipe_text, ctx.bindings, values, ctx.recipe_dir)
    trial_id = tune.get_context().get_trial_id()
    initial_epoch, weights = _restored()
    options = trial_options(
        ctx,
        trial_id,
        f"{ctx.name}-{trial_id}",
        {**values, "ray.trial_id": trial_id},
        callbacks=[reporter := _reporter(checkpoint, max_t)],
        epochs=max_t,
        initial_epoch=initial_epoch,
    )
    trial = build_trial(ctx, options)
    if weights is not None:
        trial.net.load_weights(weights)
    fit_trial(trial)
    reporter.report_last()


def _restored() -> tuple[int, str | None]:
    """The epoch and weights file of the checkpoint Ray restores this trial from, if any."""
    from ray import tune

    restored = tune.get_checkpoint()
    if restored is None:
        return 0, None
    folder = Path(tempfile.mkdtemp(prefix="zoo-ray-restore-"))
    with restored.as_directory() as source:
        weights = folder / "model.weights.h5"
        weights.write_bytes((Path(source) / "model.weights.h5").read_bytes())
        epoch = int((Path(source) / "epoch.txt").read_text())
    return epoch, str(weights)


def _reporter(checkpoint: bool, max_t: int):
    """A Keras callback that reports each epoch's metrics (and a checkpoint) to Ray.

    Ray ends the worker soon after the last report: the ``max_t``-th epoch is reported by
    ``report_last`` once the run has written its summary and ended its MLflow run.
    """
    import keras
    from ray import tune

    watch = Stopwatch()

    class Report(keras.callbacks.Callback):
        last = None

        def on_epoch_end(self, epoch, logs=None):
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            metrics.update(epoch=epoch + 1, trial_time_s=watch.seconds)
            if epoch + 1 >= max_t:
                self.last = metrics
                return
            try:
                if not checkpoint:
                    tune.report(metrics)
                    return
                with tempfile.TemporaryDirectory() as folder:
                    self.model.save_weights(str(Path(folder) / "model.weights.h5"))
                    (Path(folder) / "epoch.txt").write_text(str(epoch + 1))
                    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            except SystemExit:  # Ray stops the trial: end the fit, and the run, normally
                self.model.stop_training = True

        def report_last(self):
            if self.last is not None:
                tune.report(self.last)

    return Report()


def _scheduler(settings: TuneSettings, max_t: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler

    if settings.scheduler == "asha":
        return ASHAScheduler(
            time_attr="epoch",
            max_t=max_t,
            grace_period=settings.grace_period,
            reduction_factor=settings.factor,
        )
    if settings.scheduler == "hyperband":
        return HyperBandScheduler(time_attr="epoch", max_t=max_t, reduction_factor=settings.factor)
    return FIFOScheduler()


def _searcher(settings: TuneSettings, evaluated: list[tuple[dict, float]] = ()):
    """The search algorithm; Optuna starts from the ``evaluated`` (config, objective) pairs of
    the trials an extended search ran before."""
    if settings.search == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        if not evaluated:
            return OptunaSearch(seed=settings.seed)
        return OptunaSearch(
            seed=settings.seed + len(evaluated),  # the same seed would draw the same points
            points_to_evaluate=[config for config, _ in evaluated],
            evaluated_rewards=[value for _, value in evaluated],
        )
    if settings.search == "hyperopt":
        try:
            from ray.tune.search.hyperopt import HyperOptSearch

            return HyperOptSearch(random_state_seed=settings.seed)
        except (ImportError, AssertionError):
            raise ConfigError(
                "tune.search = 'hyperopt' needs the hyperopt package: pip install hyperopt, "
                "or use tune.search = 'optuna'."
            ) from None
    return None


def search(ctx, settings: TuneSettings, train_epochs: int, verbose: int) -> list[TrialRecord]:
    """Run, resume or extend a Ray Tune search; returns one record per trial.

    Ray cannot change ``num_samples`` of a restored experiment, so a search lives in one or
    more Ray experiments (``ray/``, ``ray-2/``, ...): the last is resumed if it was
    interrupted, and a larger ``tune.max_trials`` adds one more experiment with the missing
    trials, its searcher told every earlier result.
    """
    from ray import tune

    from zoo.training.ray_train import start_ray

    space = settings.parsed_space()
    max_t = settings.max_epochs or train_epochs
    checkpoint = settings.scheduler == "hyperband"  # it pauses trials and resumes them later
    start_ray(settings.address, settings.num_cpus)
    trainable = tune.with_parameters(
        _trainable, ctx=ctx, space=space, max_t=max_t, checkpoint=checkpoint
    )
    trainable = tune.with_resources(
        trainable, {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    )
    segments = _segments(ctx.tune_dir)
    grids = [tune.Tuner.restore(str(p), trainable).get_results() for p in segments[:-1]]
    if segments:
        restored = tune.Tuner.restore(
            str(segments[-1]), trainable, resume_errored=True, restart_errored=False
        )
        grids.append(restored.fit())
    done = sum(len(g) for g in grids)
    missing = settings.max_trials - done
    if missing > 0:
        if done:
            print(
                f"{done} trials ran already: {missing} more for tune.max_trials = "
                f"{settings.max_trials}",
                flush=True,
            )
        name = "ray" if not segments else f"ray-{len(segments) + 1}"
        tuner = _new_tuner(ctx, settings, trainable, space, max_t, missing, name, grids, verbose)
        grids.append(tuner.fit())
    elif done > settings.max_trials:
        print(
            f"{done} trials ran already, more than tune.max_trials = {settings.max_trials}: "
            "no new trial",
            flush=True,
        )
    records = [r for g in grids for r in _records(g, space, settings)]
    _agree(ctx, records, max_t)
    return records


def _segments(tune_dir: Path) -> list[Path]:
    """The search's Ray experiments in the order they were made."""
    from ray import tune

    found = [
        p
        for p in tune_dir.glob("ray*")
        if re.fullmatch(r"ray(-\d+)?", p.name) and tune.Tuner.can_restore(str(p))
    ]
    return sorted(found, key=lambda p: int(p.name.partition("-")[2] or 1))


def _new_tuner(ctx, settings, trainable, space, max_t, samples, name, grids, verbose):
    from ray import tune
    from ray.tune import RunConfig

    return tune.Tuner(
        trainable,
        param_space=ray_space(space),
        tune_config=tune.TuneConfig(
            metric=settings.objective,
            mode=settings.direction,
            search_alg=_searcher(settings, _evaluated(grids, settings)),
            scheduler=_scheduler(settings, max_t),
            num_samples=samples,
            max_concurrent_trials=settings.max_concurrent_trials,
        ),
        run_config=RunConfig(
            name=name, storage_path=str(ctx.tune_dir), verbose=1 if verbose else 0
        ),
    )


def _evaluated(grids, settings: TuneSettings) -> list[tuple[dict, float]]:
    """Each earlier trial's configuration and its objective, for the next searcher."""
    out = []
    for grid in grids:
        for result in grid:
            frame = result.metrics_dataframe
            if frame is None or settings.objective not in frame:
                continue
            column = frame[settings.objective].dropna()
            if not column.empty:
                best = column.max() if settings.direction == "max" else column.min()
                out.append((dict(result.config), float(best)))
    return out


def _records(grid, space: Space, settings: TuneSettings) -> list[TrialRecord]:
    records = []
    for result in grid:
        if result.error:
            print(f"a Ray trial failed: {str(result.error).strip().splitlines()[-1]}", flush=True)
        frame = result.metrics_dataframe
        if frame is None or settings.objective not in frame:
            continue
        column = frame[settings.objective].dropna()
        if column.empty:
            continue
        objective = float(column.max() if settings.direction == "max" else column.min())
        epochs = int(frame["epoch"].max())
        history = {
            k: [float(x) for x in frame[k]]
            for k in frame.columns
            if k in ("loss", "val_loss") or k.startswith(("accuracy", "val_", "mae", "rmse"))
        }
        records.append(
            TrialRecord(
                trial=str(result.metrics.get("trial_id")),
                values=space.active(result.config),
                objective=objective,
                epochs=epochs,
                total_epochs=epochs,
                time_s=round(float(frame["trial_time_s"].max()), 2),
                status="ERROR" if result.error else "COMPLETED",
                history=history,
            )
        )
    return records


def _agree(ctx, records: list[TrialRecord], max_t: int) -> None:
    """Give each trial's ``summary.json`` and MLflow run the ending Ray reports.

    Ray stops a trial (the scheduler's decision, or ``max_t`` reached) by raising
    ``SystemExit`` in the worker at its next report, or by ending the worker process: the
    trial's own record can then say FAILED or stay RUNNING. A trial Ray reports as finished
    is FINISHED on both sides, with the epoch it stopped after; one Ray reports as failed is
    FAILED on both.
    """
    from zoo.tracking.rundir import RunDir, write_json

    mlflow_client, runs = _nested_runs(ctx)
    for record in records:
        status = "FINISHED" if record.status == "COMPLETED" else "FAILED"
        stopped = None if record.epochs >= max_t else f"by Ray after epoch {record.epochs}"
        summary_file = RunDir(ctx.tune_dir).trial(record.trial).summary
        if summary_file.is_file():
            summary = json.loads(summary_file.read_text())
        else:  # the worker ended before the run wrote it: what Ray saw of the trial
            summary_file.parent.mkdir(parents=True, exist_ok=True)
            summary = {
                "run_name": f"{ctx.name}-{record.trial}",
                "experiment": ctx.experiment,
                "epochs_completed": record.epochs,
                "final_metrics": {k: v[-1] for k, v in record.history.items() if v},
                "note": "written from Ray's results: the worker ended before the run did",
            }
        if summary.get("status") != status or summary.get("stopped_by_ray") != stopped:
            if status == "FINISHED":
                summary.pop("failure", None)
            summary.update(status=status, stopped_by_ray=stopped)
            write_json(summary_file, summary)
        run = runs.get(f"{ctx.name}-{record.trial}")
        if run is None:
            continue
        record.mlflow_run_id = run.info.run_id
        if run.info.status != status:
            with contextlib.suppress(Exception):
                if stopped:
                    mlflow_client.set_tag(run.info.run_id, "zoo.stopped", stopped)
                mlflow_client.set_terminated(run.info.run_id, status=status)


def _nested_runs(ctx) -> tuple[Any, dict[str, Any]]:
    """An MLflow client and the trials' runs under the tuning run, by run name."""
    if ctx.parent_run_id is None:
        return None, {}
    from zoo.tracking import client

    mlflow_client = client(ctx.tracking_uri)
    parent = mlflow_client.get_run(ctx.parent_run_id)
    found = mlflow_client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{ctx.parent_run_id}'",
        max_results=10000,
    )
    return mlflow_client, {r.info.run_name: r for r in found}
