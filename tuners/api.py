"""``zoo.tune``: parse a tuning recipe, search with keras-tuner or Ray Tune, report the winner.

A tuning run lives in ``runs/<experiment>/tune-<name>/``: the backend's state, one folder per
trial (``trials/<id>/tensorboard`` with HParams), ``leaderboard.csv``, ``best.gin``,
``parallel_coordinates.png``, ``heatmap.png`` and ``tune.json``. In MLflow it is one parent
run with every trial nested under it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuners.space import TuneSettings, check_space, dry_run_report
from tuners.trial import TrialRecord, train_settings
from zoo.errors import ConfigError
from zoo.tracking.rundir import RunDir


@dataclass
class TuneContext:
    """What every trial needs to rebuild the configuration (picklable, for Ray workers)."""

    recipe_text: str
    bindings: list[str]
    recipe_dir: str | None
    tune_dir: Path
    name: str
    experiment: str
    parent_run_id: str | None
    tracking_uri: str | None
    fit_verbose: int = 0


@dataclass
class TuneResult:
    """A finished tuning run: its folder, trials best first, and the winner."""

    tune_dir: Path
    records: list[TrialRecord]
    best: TrialRecord | None
    best_recipe: Path | None
    leaderboard_csv: Path
    objective: str
    direction: str
    mlflow_run_id: str | None
    plots: list[Path] = field(default_factory=list)


def _say(msg: str) -> None:
    print(msg, flush=True)


def settings_from_gin(**overrides: Any) -> TuneSettings:
    """``TuneSettings`` with gin's ``tune.*`` bindings; keyword overrides win."""
    return TuneSettings(**{k: v for k, v in overrides.items() if v is not None})


def tune(
    recipe: str | Path | None,
    bindings: Sequence[str] = (),
    *,
    dry_run: bool = False,
    verbose: int = 1,
    mlflow: bool = True,
    **overrides: Any,
) -> TuneResult | str:
    """Search the recipe's ``tune.space``; ``overrides`` are ``tune.*`` names (backend=...).

    ``zoo.tune("tune_fashion_cnn_hyperband", ["tune.max_epochs = 3"])``. With ``dry_run``
    nothing trains: the size of the space and the algorithm's budget come back as text.
    """
    import tuners.space  # noqa: F401  (registers the `tune` configurable)
    from tuners.trial import inline_includes
    from zoo.config import parse, quiet_includes

    bindings = [b for b in bindings if b and b.strip()]
    with quiet_includes():
        path = parse(recipe, bindings)
    settings = settings_from_gin(**overrides)
    train = train_settings()
    if train.distribution != "none":
        raise ConfigError(
            "zoo tune trains each trial in one process (a trial over several workers would "
            "start a Ray Train job inside every Ray Tune trial, which zoo does not do): tune "
            "with train.distribution = 'none', then train the best recipe distributed."
        )
    check_space(settings.parsed_space(), settings.heatmap)
    _restore_gin(recipe, bindings)  # the probed values out, the recipe's back
    report = dry_run_report(settings, int(train.epochs))
    name = settings.name or (
        settings.algorithm if settings.backend == "keras-tuner" else f"ray-{settings.search}"
    )
    identity = search_identity(settings, int(train.epochs))
    folder = (Path(train.runs_dir) / train.experiment / f"tune-{name}").resolve()
    previous = _previous_search(folder, identity, settings.overwrite)
    if dry_run:
        where = "resumes the search there" if previous else "a new search"
        return f"{report}\nfolder: {folder} ({where})"
    _say(report)
    tune_dir = _tuning_folder(folder, previous, settings.overwrite)
    recipe_text = inline_includes(path.read_text(), str(path.parent)) if path is not None else ""
    from zoo.training.stops import StopGuard

    # SIGTERM / SIGHUP / Ctrl-C end the search KILLED; the same command resumes it, and the
    # trials that finished are not trained again
    guard = StopGuard()
    with guard, _parent_run(train, name, tune_dir, previous, settings, mlflow) as parent:
        state = _write_state(tune_dir, path, bindings, settings, identity, parent)
        if parent is not None and not previous:
            _log_settings(parent, settings, path)
        ctx = TuneContext(
            recipe_text=recipe_text,
            bindings=bindings,
            recipe_dir=str(path.parent) if path else None,
            tune_dir=tune_dir,
            name=name,
            experiment=train.experiment,
            parent_run_id=parent.run_id if parent else None,
            tracking_uri=state["tracking_uri"],
            fit_verbose=2 if verbose > 1 else 0,
        )
        records = _search(ctx, settings, int(train.epochs), verbose)
        description = _description(settings)
        result = _report(ctx, settings, records, path, recipe_text, bindings, description, parent)
    _restore_gin(recipe, bindings)
    return result


def _description(settings: TuneSettings) -> str:
    if settings.backend == "keras-tuner":
        return f"keras-tuner {settings.algorithm}"
    return f"Ray Tune ({settings.search} search, {settings.scheduler} scheduler)"


def search_identity(settings: TuneSettings, train_epochs: int) -> dict[str, Any]:
    """What makes two searches the same search: the space, the algorithm (and what fixes its
    schedule of epochs) and the objective. Budgets (trials, Hyperband iterations) are not in
    it: a larger budget extends a search."""
    identity: dict[str, Any] = {
        "backend": settings.backend,
        "space": settings.space,
        "conditions": settings.conditions or {},
        "objective": settings.objective,
        "direction": settings.direction,
    }
    max_epochs = settings.max_epochs or train_epochs
    if settings.backend == "keras-tuner":
        identity["algorithm"] = settings.algorithm
        if settings.algorithm == "hyperband":
            identity.update(max_epochs=max_epochs, factor=settings.factor)
    else:
        identity.update(search=settings.search, scheduler=settings.scheduler)
        if settings.scheduler != "fifo":
            identity.update(max_epochs=max_epochs, factor=settings.factor)
        if settings.scheduler == "asha":
            identity["grace_period"] = settings.grace_period
    return json.loads(json.dumps(identity, default=repr))  # tuples as lists, as tune.json


def fingerprint(identity: dict[str, Any]) -> str:
    """A short hash of :func:`search_identity`, recorded in ``tune.json``."""
    import hashlib

    text = json.dumps(identity, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _previous_search(folder: Path, identity: dict[str, Any], overwrite: bool) -> dict:
    """The state of the search ``folder`` holds (empty if none); one sentence if it holds
    another search, so that a different recipe or space never writes into it."""
    state_file = RunDir(folder).tune_state
    if overwrite or not state_file.is_file():
        return {}
    previous = json.loads(state_file.read_text())
    recorded = previous.get("search")  # None: made before searches were fingerprinted
    if recorded is None or fingerprint(recorded) == fingerprint(identity):
        return previous
    differ = [
        k for k in sorted(set(recorded) | set(identity)) if recorded.get(k) != identity.get(k)
    ]
    raise ConfigError(
        f"{folder} holds another search ({' and '.join(differ)} not the same): give this one "
        "its own folder with --name NAME (tune.name = 'NAME'), or replace that one with --overwrite."
    )


def _tuning_folder(tune_dir: Path, previous: dict, overwrite: bool) -> Path:
    """``runs/<experiment>/tune-<name>/``: emptied with ``overwrite``, else resumed."""
    if overwrite and tune_dir.exists():
        import shutil

        shutil.rmtree(tune_dir)
    if previous:
        _say(f"resuming the tuning run in {tune_dir}")
    tune_dir.mkdir(parents=True, exist_ok=True)
    return tune_dir


def _parent_run(train, name: str, tune_dir: Path, previous: dict, settings, mlflow: bool):
    """The tuning run's MLflow parent run (the same one again when a search resumes)."""
    import contextlib

    from zoo.tracking import RUN_DIR_TAG, check_store, mlflow_run

    if not mlflow:
        return contextlib.nullcontext(None)
    check_store(train.tracking_uri)
    return mlflow_run(
        train.experiment,
        f"tune-{name}",
        uri=train.tracking_uri,
        run_id=previous.get("mlflow_run_id"),
        tags={"zoo.tuning": _description(settings), RUN_DIR_TAG: str(tune_dir)},
    )


def _write_state(tune_dir: Path, path, bindings, settings: TuneSettings, identity, parent) -> dict:
    """``tune.json``: the recipe, what identifies the search, and its MLflow parent run."""
    ray = settings.backend == "ray"
    state = {
        "recipe": str(path) if path else None,
        "bindings": bindings,
        "backend": settings.backend,
        "algorithm": settings.search if ray else settings.algorithm,
        "scheduler": settings.scheduler if ray else None,
        "objective": settings.objective,
        "direction": settings.direction,
        "fingerprint": fingerprint(identity),
        "search": identity,
        "mlflow_run_id": parent.run_id if parent else None,
        "tracking_uri": parent.uri if parent is not None else None,
    }
    RunDir(tune_dir).tune_state.write_text(json.dumps(state, indent=2) + "\n")
    return state


def _log_settings(parent, settings: TuneSettings, path) -> None:
    from zoo.config import scalar_params
    from zoo.tracking import log_params

    params = {f"tune.{k}": v for k, v in vars(settings).items()}
    params["zoo.recipe"] = str(path) if path else None
    log_params(parent.client, parent.run_id, scalar_params(params))


def _search(ctx: TuneContext, settings: TuneSettings, epochs: int, verbose: int):
    if settings.backend == "keras-tuner":
        from tuners import keras_backend

        return keras_backend.search(ctx, settings, epochs, verbose)
    from tuners import ray_backend

    return ray_backend.search(ctx, settings, epochs, verbose)


def _restore_gin(recipe, bindings) -> None:
    """Leave gin configured with the tuning recipe, not the last trial's values."""
    from zoo.config import parse, quiet_includes

    with quiet_includes():
        parse(recipe, bindings)


def _report(ctx, settings, records, path, recipe_text, bindings, description, parent):
    from tuners import results
    from zoo.tracking import log_metrics

    space = settings.parsed_space()
    if not records:
        raise ConfigError(f"No trial of {ctx.tune_dir} finished: see the errors printed above.")
    csv_path = ctx.tune_dir / "leaderboard.csv"
    table = results.leaderboard(records, space, settings.objective, settings.direction, csv_path)
    _say(f"\nleaderboard ({len(records)} trials, {settings.objective}, {settings.direction}):")
    _say(table)
    best_list = results.ranked(records, settings.direction)
    best = best_list[0] if best_list else None
    best_recipe = None
    if best is not None:
        best_recipe = ctx.tune_dir / "best.gin"
        results.write_best_recipe(
            best_recipe,
            best=best,
            recipe_path=path,
            recipe_text=recipe_text,
            bindings=bindings,
            objective=settings.objective,
            direction=settings.direction,
            description=f"{description} in {ctx.tune_dir}",
        )
    plots = [
        results.parallel_coordinates(
            records, space, settings.objective, ctx.tune_dir / "parallel_coordinates.png"
        )
    ]
    pair = list(settings.heatmap or space.names[:2])
    if len(pair) == 2:
        plots.append(
            results.heatmap(
                records,
                space,
                settings.objective,
                settings.direction,
                pair,
                ctx.tune_dir / "heatmap.png",
            )
        )
    if parent is not None:
        for artifact in [csv_path, *plots, *([best_recipe] if best_recipe else [])]:
            parent.client.log_artifact(parent.run_id, str(artifact))
        if best is not None:
            log_metrics(
                parent.client,
                parent.run_id,
                {f"best_{settings.objective}": best.objective, "trials": len(records)},
                0,
            )
            parent.client.set_tag(parent.run_id, "zoo.best_trial", best.trial)
    if best is not None:
        _say(f"\nbest: trial {best.trial}, {settings.objective} = {best.objective:.4f}")
        _say(f"best recipe: {best_recipe}   (retrain: zoo train {best_recipe})")
    _say(f"leaderboard: {csv_path}")
    _say(f"plots:       {', '.join(str(p) for p in plots)}")
    _say(f"TensorBoard: tensorboard --logdir {ctx.tune_dir / 'trials'}")
    sys.stdout.flush()
    return TuneResult(
        tune_dir=ctx.tune_dir,
        records=best_list,
        best=best,
        best_recipe=best_recipe,
        leaderboard_csv=csv_path,
        objective=settings.objective,
        direction=settings.direction,
        mlflow_run_id=parent.run_id if parent else None,
        plots=plots,
    )
