"""Every bundled tuning recipe through its life, found from the recipe list: a dry run, a
misspelt key refused before any trial, a tiny search, the same search run again (it resumes
and trains nothing new), a larger budget (it extends), ``best.gin`` retraining exactly the
winner's values, trial statuses equal in ``summary.json`` and MLflow, and a second recipe in
the same experiment that leaves the first search intact. A new tuning recipe gets these
tests by being added to ``recipes/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import gin
import pytest
from mlflow.tracking import MlflowClient

import zoo
from tuners.space import TuneSettings
from zoo.cli import main as cli
from zoo.config import list_recipes, parse, resolve_recipe

TUNING = [r for r in list_recipes() if "tune.space" in resolve_recipe(r).read_text()]


def test_the_tuning_recipes_are_found():
    assert {"tune_fashion_cnn_bayesian", "tune_fashion_cnn_hyperband", "tune_fashion_cnn_ray"} <= (
        set(TUNING)
    )


def settings_of(recipe: str, bindings=()) -> TuneSettings:
    parse(recipe, list(bindings))
    settings = TuneSettings()
    gin.clear_config()
    return settings


def tiny(fake_fashion, settings: TuneSettings) -> list[str]:
    """Bindings that shrink a recipe to seconds: fake data, one epoch, float32, small budget."""
    lines = [
        f"fashion_mnist.data_dir = '{fake_fashion}'",
        "fashion_mnist.train_size = None",
        "fashion_mnist.validation_split = 0.2",
        "train.epochs = 1",
        "train.batch_size = 40",
        "train.precision = 'float32'",
        "tune.max_epochs = 1",
        "tune.max_trials = 1",
        "tune.hyperband_iterations = 1",
    ]
    if settings.backend == "ray":  # two epochs, a rung after the first: ASHA may stop one
        lines += [
            "tune.max_epochs = 2",
            "tune.grace_period = 1",
            "tune.factor = 2",
            "tune.num_cpus = 2",
            "tune.max_concurrent_trials = 2",
        ]
    return lines


def larger(settings: TuneSettings) -> list[str]:
    """The budget that adds one trial: one more Hyperband iteration, else one more trial."""
    if settings.backend == "keras-tuner" and settings.algorithm == "hyperband":
        return ["tune.hyperband_iterations = 2"]
    return ["tune.max_trials = 2"]


@pytest.fixture(scope="module", autouse=True)
def ray_once():
    """One local Ray for the module (a start costs ~25 s here), shut down at its end."""
    yield
    import sys

    if "ray" in sys.modules:
        sys.modules["ray"].shutdown()


@pytest.mark.parametrize("recipe", TUNING)
def test_dry_run_sizes_the_space_and_names_the_folder(recipe, capsys):
    settings = settings_of(recipe)
    assert cli(["tune", recipe, "--dry-run"]) == 0
    out = capsys.readouterr().out
    space = settings.parsed_space()
    assert f"search space: {len(space)} hyperparameters" in out
    for name in space.names:
        assert f"  {name}" in out
    folder = [line for line in out.splitlines() if line.startswith("folder: ")]
    assert len(folder) == 1 and folder[0].endswith("(a new search)")
    assert not Path("runs").exists()  # a dry run writes nothing


@pytest.mark.parametrize("recipe", TUNING)
def test_misspelt_space_key_is_one_sentence_before_any_trial(recipe, capsys):
    settings = settings_of(recipe)
    free = [p.name for p in settings.parsed_space() if p.parent is None]
    parents = {p.parent for p in settings.parsed_space()}
    name = next(n for n in free if n not in parents)  # a key no condition names
    wrong = name + "z"
    space = {(wrong if k == name else k): v for k, v in settings.space.items()}
    binding = f"tune.space = {space!r}"
    for extra in (["--dry-run"], []):
        assert cli(["tune", recipe, "--bind", binding, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"tune.space[{wrong!r}]" in err
        assert f"did you mean {name.split('.')[-1]!r}" in err
    assert not Path("runs").exists()


def trial_statuses(result) -> list[tuple[str, str, str]]:
    """(trial, summary.json status, MLflow status) of every trial of a search."""
    client = MlflowClient()
    rows = []
    for record in result.records:
        summary = json.loads(
            (result.tune_dir / "trials" / record.trial / "summary.json").read_text()
        )
        rows.append(
            (record.trial, summary["status"], client.get_run(record.mlflow_run_id).info.status)
        )
    return rows


def retrained_values(best_recipe, names) -> dict:
    """Train ``best.gin`` and read back the values its run actually used."""
    run = zoo.train(str(best_recipe), ["train.run_name = 'retrained'"])
    assert run.status == "FINISHED"
    parse(str(run.run_dir / "operative_config.gin"))
    values = {n: gin.query_parameter(n) for n in names}
    gin.clear_config()
    return values


def snapshot(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".json", ".csv", ".gin")
    }


@pytest.mark.parametrize("recipe", TUNING)
def test_search_lifecycle(recipe, fake_fashion, tmp_path, capsys):
    settings = settings_of(recipe)
    binds = tiny(fake_fashion, settings)

    # a tiny search
    first = zoo.tune(recipe, binds, verbose=0)
    assert len(first.records) == 1
    state = json.loads((first.tune_dir / "tune.json").read_text())
    ray = settings.backend == "ray"
    assert state["algorithm"] == (settings.search if ray else settings.algorithm)
    assert state["scheduler"] == (settings.scheduler if ray else None)
    assert all(s == m == "FINISHED" for _, s, m in trial_statuses(first))

    # the same search again: it resumes, trains nothing, keeps its MLflow run
    again = zoo.tune(recipe, binds, verbose=0)
    assert "resuming the tuning run in" in capsys.readouterr().out
    assert again.tune_dir == first.tune_dir and again.mlflow_run_id == first.mlflow_run_id
    assert [r.trial for r in again.records] == [r.trial for r in first.records]
    assert (
        json.loads((first.tune_dir / "tune.json").read_text())["fingerprint"]
        == (state["fingerprint"])
    )

    # a larger budget extends it by one trial; the first one is not trained again
    extended = zoo.tune(recipe, [*binds, *larger(settings)], verbose=0)
    assert extended.tune_dir == first.tune_dir and extended.mlflow_run_id == first.mlflow_run_id
    assert len(extended.records) == 2
    assert extended.records[0].values != extended.records[1].values  # not the same point again
    assert first.records[0].trial in {r.trial for r in extended.records}
    old = next(r for r in extended.records if r.trial == first.records[0].trial)
    assert old.objective == pytest.approx(first.records[0].objective)
    statuses = trial_statuses(extended)
    assert all(s == m == "FINISHED" for _, s, m in statuses), statuses

    # best.gin retrains exactly the recorded winner
    winner = extended.best.values
    assert retrained_values(extended.best_recipe, winner) == winner

    # a second, different recipe in the same experiment: refused, naming tune.name ...
    kept = snapshot(first.tune_dir)
    keys = settings.parsed_space().names
    other = tmp_path / "other.gin"
    other.write_text(
        f"include '{resolve_recipe(recipe)}'\n"
        f"tune.space = {{{keys[0]!r}: {settings.space[keys[0]]!r}}}\n"
        "tune.conditions = None\ntune.heatmap = None\n"
    )
    capsys.readouterr()
    assert cli(["tune", str(other), *sum((["--bind", b] for b in binds), [])]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "tune.name" in err and "space" in err
    assert snapshot(first.tune_dir) == kept
    # ... and given its own name, it searches in its own folder; the first stays intact
    forked = zoo.tune(str(other), binds, verbose=0, name="other")
    assert forked.tune_dir == first.tune_dir.parent / "tune-other"
    assert set(forked.best.values) == {keys[0]}
    assert snapshot(first.tune_dir) == kept
