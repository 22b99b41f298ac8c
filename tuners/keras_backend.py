"""keras-tuner backend: Hyperband, Bayesian optimisation, random and grid search.

keras-tuner has no MLflow hook and deep-copies callbacks per execution, so the tuner is
subclassed: ``run_trial`` hands the trial to the hypermodel, whose ``fit`` opens the trial's
nested MLflow run and TensorBoard writer itself (nothing unpicklable is ever copied).
The tuner's own state (``oracle.json``, ``trial_*/``) lives in the tuning directory, which is
what makes an interrupted search resumable (``overwrite=False``).
"""

from __future__ import annotations

from typing import Any

from tuners import trial as trial_lib
from tuners.space import Space, TuneSettings, encode
from tuners.trial import Stopwatch, TrialRecord, parse_trial, save_record, trial_options
from zoo.errors import ZooError


def declare(hp, space: Space) -> None:
    """Declare every parameter of ``space`` on keras-tuner's ``HyperParameters``."""
    import contextlib

    for p in space:
        scope = (
            hp.conditional_scope(p.parent, [encode(v) for v in p.parent_values])
            if p.parent
            else contextlib.nullcontext()
        )
        with scope:
            if p.kind == "choice":
                hp.Choice(p.name, [encode(v) for v in p.values], ordered=False)
            elif p.kind in ("int", "logint"):
                hp.Int(
                    p.name,
                    int(p.low),
                    int(p.high),
                    step=int(p.step) if p.step else None,
                    sampling="log" if p.log else "linear",
                )
            else:
                hp.Float(
                    p.name,
                    float(p.low),
                    float(p.high),
                    step=p.step,
                    sampling="log" if p.log else "linear",
                )


def active_values(hp, space: Space) -> dict[str, Any]:
    """The trial's decoded values of the parameters that apply to it."""
    return space.active({p.name: hp.values[p.name] for p in space if p.name in hp.values})


def search(ctx, settings: TuneSettings, train_epochs: int, verbose: int) -> list[TrialRecord]:
    """Run (or resume) the keras-tuner search; returns one record per finished trial."""
    import keras_tuner as kt

    space = settings.parsed_space()
    user_error = _user_error_class()

    class HyperModel(kt.HyperModel):
        trial = None
        discovering = True  # keras-tuner builds once per condition to find the space

        def declare_hyperparameters(self, hp):
            declare(hp, space)

        def build(self, hp):
            declare(hp, space)
            if self.discovering:
                return None
            values = active_values(hp, space)
            parse_trial(ctx.recipe_text, ctx.bindings, values, ctx.recipe_dir)
            trial_id = self.trial.trial_id
            name = f"{ctx.name}-trial-{trial_id}"
            self.current = trial_lib.build_trial(ctx, trial_options(ctx, trial_id, name, values))
            return self.current.net

        def fit(self, hp, model, *args, **kwargs):
            return _fit_trial(self.current, self.trial, model, kwargs, train_epochs)

    algorithms = {
        "hyperband": kt.Hyperband,
        "bayesian": kt.BayesianOptimization,
        "random": kt.RandomSearch,
        "grid": kt.GridSearch,
    }
    base = algorithms[settings.algorithm]

    def run_trial(self, trial, *args, **kwargs):
        self.hypermodel.trial = trial
        try:
            return base.run_trial(self, trial, *args, **kwargs)
        except ZooError as exc:  # a user's error: stop the search with its sentence
            raise user_error(exc) from None

    tuner_cls = type(f"Zoo{base.__name__}", (base,), {"run_trial": run_trial})
    common = dict(
        hypermodel=HyperModel(),
        objective=kt.Objective(settings.objective, settings.direction),
        executions_per_trial=settings.executions_per_trial,
        seed=settings.seed,
        directory=str(ctx.tune_dir.parent),
        project_name=ctx.tune_dir.name,
        overwrite=False,  # tune() clears the folder itself when tune.overwrite is set
    )
    if settings.algorithm == "hyperband":
        tuner = tuner_cls(
            max_epochs=settings.max_epochs or train_epochs,
            factor=settings.factor,
            hyperband_iterations=settings.hyperband_iterations,
            **common,
        )
        # a reloaded oracle restores its saved iteration count: a larger one extends the search
        tuner.oracle.hyperband_iterations = settings.hyperband_iterations
    else:
        max_trials = settings.max_trials
        if settings.algorithm == "grid":
            max_trials = min(max_trials, space.grid_size() or max_trials)
        tuner = tuner_cls(max_trials=max_trials, **common)
    tuner.hypermodel.discovering = False
    try:
        tuner.search(verbose=verbose)
    except user_error as exc:
        raise exc.error from None
    return _records(ctx, tuner)


def _user_error_class():
    import keras_tuner as kt

    class UserError(kt.errors.FatalError):
        """keras-tuner retries a failing trial and prints its traceback; a fatal error stops
        the search at once, and ``search`` raises the sentence it carries."""

        def __init__(self, error: ZooError):
            super().__init__(str(error))
            self.error = error

    return UserError


def _fit_trial(current, trial, model, kwargs, train_epochs):
    """Fit a built trial on the training path with keras-tuner's budget and callbacks."""
    import dataclasses

    import keras

    epochs = kwargs.pop("epochs", None) or train_epochs
    initial_epoch = kwargs.pop("initial_epoch", 0) or 0
    values = dict(current.options.params)
    options = dataclasses.replace(
        current.options,
        extra_callbacks=tuple(kwargs.pop("callbacks", [])),
        epochs=epochs,
        initial_epoch=initial_epoch,
    )
    setup = dataclasses.replace(  # the model keras-tuner hands over (Hyperband loaded a
        current.setup,  # promoted trial's weights into it) and the round's params
        net=model,
        params={**current.setup.params, "tuner.trial_id": trial.trial_id, "tuner.epochs": epochs},
    )
    watch = Stopwatch()
    try:
        result = trial_lib.fit_trial(dataclasses.replace(current, setup=setup), options)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    record = TrialRecord(
        trial=trial.trial_id,
        values=values,
        objective=None,
        epochs=epochs - initial_epoch,
        total_epochs=epochs,
        time_s=watch.seconds,
        mlflow_run_id=result.mlflow_run_id,
        history=result.fit_history,
    )
    save_record(record, current.run_dir.trial_record)
    history = keras.callbacks.History()
    history.history = {k: list(v) for k, v in result.fit_history.items()}
    history.epoch = list(
        range(initial_epoch, initial_epoch + len(next(iter(history.history.values()), [])))
    )
    return history


def _records(ctx, tuner) -> list[TrialRecord]:
    from tuners.trial import load_record
    from zoo.tracking.rundir import RunDir

    records = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        path = RunDir(ctx.tune_dir).trial(trial_id).trial_record
        if trial.status != "COMPLETED" or not path.is_file():
            continue
        record = load_record(path)
        record.objective = None if trial.score is None else float(trial.score)
        records.append(record)
    return records
