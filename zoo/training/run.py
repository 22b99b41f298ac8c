"""One training run, top-down: settings -> run directory -> setup -> tracking -> fit phases
-> evaluate -> record.

``zoo.train`` (:mod:`zoo.training.api`) parses a recipe and bindings, then calls :func:`run`
(or cross-validates, one :func:`run` per fold). A keras-tuner
or Ray trial calls :func:`~zoo.training.setup.prepare` and :func:`execute` itself (its tuner
builds the model and fits it in two calls), a cross-validation fold calls :func:`run` with
its fold, and the learning-rate range test shares the setup and tracking phases.
"""

from __future__ import annotations

import contextlib
import shutil

from zoo.tracking.rundir import RunDir
from zoo.training import distribute
from zoo.training.record import Record, RunResult, announce, evaluate_classes, evaluate_test
from zoo.training.rundir import open_run_dir
from zoo.training.settings import RunOptions, Settings
from zoo.training.setup import Setup, global_policy_kept, prepare
from zoo.training.stops import StopGuard


def run(settings: Settings, options: RunOptions) -> RunResult:
    """Train as ``settings`` (read once by the settings phase) say, in a new or resumed run
    directory. In a distributed run, a worker that is not the chief trains the same way in a
    temporary folder nobody reads."""
    train = settings.train
    if options.mlflow and distribute.is_chief(train):
        from zoo.tracking import check_store

        check_store(train.tracking_uri)  # a dead server is one sentence, before any work
    if not distribute.is_chief(train):
        options = distribute.worker_options(options)
        run_dir = distribute.worker_run_dir(train, options)
        try:
            return _run_in(run_dir, settings, options)
        finally:
            distribute.discard(run_dir)
    return _run_in(open_run_dir(train, options), settings, options)


def _run_in(run_dir: RunDir, settings: Settings, options: RunOptions) -> RunResult:
    with StopGuard(options.handle_signals) as guard, global_policy_kept():
        try:
            setup = prepare(settings, run_dir, options)
        except BaseException:
            _discard_if_new(run_dir, options)
            raise
        return execute(setup, run_dir, options, guard)


def _discard_if_new(run_dir: RunDir, options: RunOptions) -> None:
    """A new run that failed before training holds nothing worth keeping."""
    if not run_dir.resumed and options.run_dir is None:
        shutil.rmtree(run_dir.path, ignore_errors=True)


def execute(
    setup: Setup, run_dir: RunDir | None, options: RunOptions, guard: StopGuard | None = None
) -> RunResult:
    """Track, fit, evaluate and record a prepared run; the run ends with a status
    whatever happens, and the exception (or stop) that ended it is raised again."""
    from zoo.training.fit import fit_phases, make_callbacks
    from zoo.training.stops import active_guard
    from zoo.training.track import open_tracking

    guard = guard or active_guard()  # a trial stops with its tuning run's guard
    record = Record(setup, run_dir, options)
    strategy = distribute.scope(setup.distribution)  # fit, evaluate and save under it
    with strategy, open_tracking(setup, run_dir, options) as (handle, logger):
        record.attach(handle)
        try:
            callbacks = make_callbacks(setup, run_dir, logger, options, guard)
            with guard.deferred() if guard is not None else contextlib.nullcontext():
                fit = fit_phases(setup, callbacks, options)
            record.fitted(fit)
            if not fit.failure:
                record.finished(_evaluate(setup, run_dir, logger, handle, options, record))
        except BaseException as exc:
            record.stopped(exc)
            raise
        finally:
            record.write(logger)
    result = record.result()
    if options.announce:
        announce(result, setup.settings.runs_dir, options)
    return result


def _evaluate(setup: Setup, run_dir: RunDir | None, logger, handle, options, record) -> dict:
    """Test metrics (when asked for) and a text model's embedding projector files."""
    from zoo.tracking.rundir import history_rows

    metrics: dict[str, float] = {}
    if options.test:
        last = max(history_rows(run_dir.history) - 1 if run_dir is not None else 0, 0)
        metrics = evaluate_test(setup, logger, last)
        if run_dir is not None and setup.eval_net is not setup.net and options.checkpoints:
            from zoo.training.checkpoints import save_model

            save_model(setup.eval_net, run_dir.checkpoint("export"))  # no aux heads
        vocabulary = setup.data.extras.get("vocabulary")
        if run_dir is not None:
            per_class = evaluate_classes(setup, run_dir, logger, handle, last, say=options.announce)
            if per_class:
                record.summary["evaluation"] = {
                    "folder": run_dir.evaluation.name,
                    **{k: v for k, v in per_class.items() if "/" not in k},
                }
        if vocabulary and run_dir is not None:
            from zoo.analysis.embeddings import log_run_embeddings

            log_run_embeddings(setup.net, vocabulary, run_dir.path, handle)
    return metrics
