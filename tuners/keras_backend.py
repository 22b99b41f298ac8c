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
from tuners.trial import Stopwatch, TrialRecord, parse_trial, save_record, trial_logging


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

    class HyperModel(kt.HyperModel):
        trial = None
        discovering = True  # keras-tuner builds once per condition to find the space

        def declare_hyperparameters(self, hp):
            declare(hp, space)

        def build(self, hp):
            declare(hp, space)
            if self.discovering:
                return None
            parse_trial(ctx.recipe_text, ctx.bindings, active_values(hp, space), ctx.recipe_dir)
            self.setup = trial_lib.build_trial()
            return self.setup.net

        def fit(self, hp, model, *args, **kwargs):
            return _fit_trial(ctx, self.trial, hp, space, self.setup, model, kwargs, train_epochs)

    algorithms = {
        "hyperband": kt.Hyperband,
        "bayesian": kt.BayesianOptimization,
        "random": kt.RandomSearch,
        "grid": kt.GridSearch,
    }
    base = algorithms[settings.algorithm]

    def run_trial(self, trial, *args, **kwargs):
        self.hypermodel.trial = trial
        return base.run_trial(self, trial, *args, **kwargs)

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
    else:
        max_trials = settings.max_trials
        if settings.algorithm == "grid":
            max_trials = min(max_trials, space.grid_size() or max_trials)
        tuner = tuner_cls(max_trials=max_trials, **common)
    tuner.hypermodel.discovering = False
    tuner.search(verbose=verbose)
    return _records(ctx, tuner)


def _fit_trial(ctx, trial, hp, space, setup, model, kwargs, train_epochs):
    import keras

    values = active_values(hp, space)
    epochs = kwargs.pop("epochs", None) or train_epochs
    initial_epoch = kwargs.pop("initial_epoch", 0) or 0
    callbacks = list(kwargs.pop("callbacks", []))
    trial_dir = ctx.tune_dir / "trials" / trial.trial_id
    watch = Stopwatch()
    run_name = f"{ctx.name}-trial-{trial.trial_id}"
    with trial_logging(
        experiment=ctx.experiment,
        run_name=run_name,
        values={**values, "tuner.trial_id": trial.trial_id, "tuner.epochs": epochs},
        log_dir=trial_dir / "tensorboard",
        parent_run_id=ctx.parent_run_id,
        tracking_uri=ctx.tracking_uri,
    ) as logger:
        history = model.fit(
            setup.data.train,
            validation_data=setup.data.validation,
            epochs=epochs,
            initial_epoch=initial_epoch,
            callbacks=[*callbacks, logger],
            verbose=ctx.fit_verbose,
            shuffle=False,
        )
        run_id = getattr(logger, "mlflow_run_id", None)
    record = TrialRecord(
        trial=trial.trial_id,
        values=values,
        objective=None,
        epochs=epochs - initial_epoch,
        total_epochs=epochs,
        time_s=watch.seconds,
        mlflow_run_id=run_id,
        history={k: [float(x) for x in v] for k, v in history.history.items()},
    )
    save_record(record, trial_dir / "record.json")
    keras.mixed_precision.set_global_policy("float32")
    return history


def _records(ctx, tuner) -> list[TrialRecord]:
    from tuners.trial import load_record

    records = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        path = ctx.tune_dir / "trials" / trial_id / "record.json"
        if trial.status != "COMPLETED" or not path.is_file():
            continue
        record = load_record(path)
        record.objective = None if trial.score is None else float(trial.score)
        records.append(record)
    return records
