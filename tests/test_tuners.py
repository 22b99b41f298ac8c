"""Tuning: the space and budgets (exact numbers), tiny keras-tuner and Ray searches, resume,
and ``best.gin`` retraining to the score the search reported."""

from __future__ import annotations

import csv
import json

import pytest
from mlflow.tracking import MlflowClient

import zoo
from tuners.space import TuneSettings, hyperband_brackets, parse_space
from zoo.cli import main as cli
from zoo.tracking.readers import tensorboard_tags

TINY = """
include 'digits_cnn.gin'
digits.train_size = 400
cnn.filters = [8]
cnn.dense_units = [16]
train.batch_size = 32
train.epochs = 2
train.learning_rate = 0.01
"""


def recipe(tmp_path, text: str, name: str = "tiny_tune.gin") -> str:
    path = tmp_path / name
    path.write_text(TINY + text)
    return str(path)


# ---- the space and the budgets: no training ----------------------------------------------


def test_space_sizes_with_a_condition():
    space = parse_space(
        {
            "train.learning_rate": ("choice", [1e-3, 1e-2]),
            "train.optimizer": ("choice", ["adam", "sgd"]),
            "optimizer.momentum": ("float", 0.5, 0.9, 0.2),
            "cnn.kernel_size": ("int", 3, 7, 2),
        },
        {"optimizer.momentum": ("train.optimizer", ["sgd"])},
    )
    assert space["optimizer.momentum"].grid() == [0.5, 0.7, 0.9]
    assert space["cnn.kernel_size"].grid() == [3, 5, 7]
    # momentum only counts for sgd: 2 lr x (adam + 3 sgd momenta) x 3 kernels
    assert space.grid_size() == 2 * (1 + 3) * 3 == 24
    assert space.discrete_size() == 2 * 2 * 3 * 3
    assert space.active({"train.optimizer": "adam", "optimizer.momentum": 0.7}) == {
        "train.optimizer": "adam"
    }
    continuous = parse_space({"a.b": ("log", 1e-4, 1e-1), "c.d": ("choice", [[1], [2]])})
    assert continuous.grid_size() is None and continuous.continuous_dims() == ["a.b"]


@pytest.mark.parametrize(
    "space, conditions, message",
    [
        ({"lr": ("log", 1e-4, 1e-2)}, None, "not a gin parameter name"),
        ({"train.learning_rate": ("logarithmic", 1, 2)}, None, "must be a tuple starting"),
        ({"train.learning_rate": ("log", 0, 1)}, None, "log sampling needs low > 0"),
        ({"cnn.kernel_size": ("int", 5, 3)}, None, "low must be a number below high"),
        (
            {"optimizer.momentum": ("float", 0.5, 0.9), "train.optimizer": ("choice", ["sgd"])},
            {"optimizer.momentum": ("train.optimizer", ["sgd"])},
            "declared earlier",
        ),
        (None, None, "declares no search space"),
    ],
)
def test_space_errors_say_what_to_fix(space, conditions, message):
    with pytest.raises(zoo.ZooError, match=message):
        parse_space(space, conditions)


def test_hyperband_brackets_exact():
    # Li et al., "Hyperband", JMLR 18(185), 2018, Algorithm 1 with R = 9, eta = 3:
    # s_max = 2; bracket s starts ~(s_max+1)/(s+1) * 3**s configurations on 9 / 3**s epochs.
    # keras-tuner rounds the survivors up: bracket 1 keeps ceil(1.5) = 2 (the paper: 1).
    brackets = hyperband_brackets(9, 3)
    assert [b.rounds for b in brackets] == [
        [(9, 1), (3, 3), (1, 9)],
        [(5, 3), (2, 9)],
        [(3, 9)],
    ]
    # promoted trials continue from their checkpoint: 9*1 + 3*2 + 1*6, 5*3 + 2*6, 3*9
    assert [b.epochs for b in brackets] == [21, 27, 27]
    assert sum(b.trials for b in brackets) == 23
    assert [b.rounds for b in hyperband_brackets(3, 3)] == [[(3, 1), (1, 3)], [(2, 3)]]


def test_dry_run_prints_sizes_and_budget(capsys):
    assert cli(["tune", "tune_fashion_cnn_hyperband", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "search space: 5 hyperparameters" in out
    # 3 filter lists x 2 kernel sizes x 3 dense widths x 6 dropouts; the learning rate is continuous
    assert "1 continuous dimensions: train.learning_rate" in out
    assert "discrete dimensions alone give 108 combinations" in out
    assert "bracket 2: 9 configurations; rounds (trials x epochs) 9 x 1, 3 x 3, 1 x 9" in out
    assert "total: 23 trials, 17 configurations, 75 epochs" in out

    assert cli(["tune", "tune_fashion_cnn_bayesian", "--dry-run", "--max-trials", "7"]) == 0
    out = capsys.readouterr().out
    assert "budget (bayesian): 7 trials x 5 epochs x 1 executions = 35 epochs" in out
    assert "(only when train.optimizer in ['sgd'])" in out

    assert cli(["tune", "tune_fashion_cnn_ray", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "12 trials of at most 9 epochs = at most 108 epochs" in out
    assert "ASHA rungs at epochs [1, 3]" in out

    grid = [
        "--bind",
        "tune.space = {'cnn.filters': ('choice', [[8], [16]]), 'cnn.kernel_size': ('int', 3, 7, 2)}",
        "--bind",
        "tune.heatmap = None",  # the recipe's heatmap names a parameter this space lacks
    ]
    assert (
        cli(["tune", "tune_fashion_cnn_hyperband", "--algorithm", "grid", "--dry-run", *grid]) == 0
    )
    out = capsys.readouterr().out
    assert "grid: 6 configurations" in out
    assert "budget (grid): 6 trials x 9 epochs" in out


def test_tune_errors_are_one_line(tmp_path, capsys):
    path = recipe(tmp_path, "")
    assert cli(["tune", path, "--dry-run"]) == 2
    assert "declares no search space" in capsys.readouterr().err
    with pytest.raises(zoo.ZooError, match="tune.algorithm must be one of"):
        TuneSettings(space={"a.b": ("choice", [1])}, algorithm="annealing")


# ---- keras-tuner ---------------------------------------------------------------------------


def _nested_runs(mlflow_db, parent_id):
    client = MlflowClient(tracking_uri=mlflow_db)
    parent = client.get_run(parent_id)
    return parent, client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'"
    )


# a promoted trial loads its weights into a fresh optimizer (keras-tuner's design)
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_tiny_hyperband(tmp_path, mlflow_db):
    path = recipe(
        tmp_path,
        """
tune.space = {'train.learning_rate': ('log', 1e-3, 3e-2), 'cnn.dense_units': ('choice', [[8], [16]])}
tune.algorithm = 'hyperband'
tune.max_epochs = 3
""",
    )
    result = zoo.tune(path, verbose=0)
    assert result.tune_dir == tmp_path / "runs" / "digits" / "tune-hyperband"
    # R = 3, eta = 3: bracket 1 runs 3 configurations for 1 epoch and continues the best for
    # 2 more; bracket 0 runs 2 configurations for 3 epochs: 6 trials, 3 + 2 + 6 = 11 epochs.
    assert len(result.records) == 6
    assert sorted(r.epochs for r in result.records) == [1, 1, 1, 2, 3, 3]
    assert sum(r.epochs for r in result.records) == 11
    objectives = [r.objective for r in result.records]
    assert objectives == sorted(objectives, reverse=True)
    assert result.best.objective == max(objectives)

    with open(result.leaderboard_csv) as f:
        rows = list(csv.DictReader(f))
    assert [r["trial"] for r in rows] == [r.trial for r in result.records]
    assert float(rows[0]["val_accuracy"]) == pytest.approx(result.best.objective)

    parent, children = _nested_runs(mlflow_db, result.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result.best.objective)
    assert len(children) == 6 and {c.info.status for c in children} == {"FINISHED"}
    child = next(c for c in children if c.info.run_id == result.best.mlflow_run_id)
    assert float(child.data.params["train.learning_rate"]) == pytest.approx(
        result.best.values["train.learning_rate"]
    )
    artifacts = {a.path for a in MlflowClient(mlflow_db).list_artifacts(result.mlflow_run_id)}
    assert {"leaderboard.csv", "best.gin", "parallel_coordinates.png", "heatmap.png"} <= artifacts
    for record in result.records:
        tags = tensorboard_tags(result.tune_dir / "trials" / record.trial / "tensorboard")
        assert "_hparams_/session_start_info" in tags and "val_accuracy" in tags
    best_gin = result.best_recipe.read_text()
    assert f"train.epochs = {result.best.total_epochs}" in best_gin
    assert "cnn.dense_units = [" in best_gin and "include" not in best_gin.split("----")[2]


def test_bayesian_with_condition_and_best_gin_retrains(tmp_path):
    path = recipe(
        tmp_path,
        """
tune.space = {
    'train.learning_rate': ('log', 3e-3, 3e-2),
    'train.optimizer': ('choice', ['adam', 'sgd']),
    'optimizer.momentum': ('float', 0.5, 0.9),
}
tune.conditions = {'optimizer.momentum': ('train.optimizer', ['sgd'])}
tune.algorithm = 'bayesian'
tune.max_trials = 3
""",
    )
    result = zoo.tune(path, verbose=0)
    assert len(result.records) == 3
    for r in result.records:
        assert r.epochs == 2
        assert ("optimizer.momentum" in r.values) == (r.values["train.optimizer"] == "sgd")
    retrained = zoo.train(str(result.best_recipe))
    assert retrained.status == "FINISHED"
    assert len(retrained.history["val_accuracy"]) == result.best.total_epochs
    # the same seed, data and model: the retrained run reaches the reported score
    assert max(retrained.history["val_accuracy"]) == pytest.approx(result.best.objective, abs=0.03)


def test_interrupted_search_resumes(tmp_path, monkeypatch, mlflow_db):
    import tuners.trial

    path = recipe(
        tmp_path,
        """
tune.space = {'train.learning_rate': ('log', 1e-3, 3e-2)}
tune.algorithm = 'random'
tune.max_trials = 3
train.epochs = 1
""",
    )
    real_build = tuners.trial.build_trial
    builds = []

    def interrupting_build(*args, **kwargs):
        builds.append(1)
        if len(builds) == 3:
            raise KeyboardInterrupt
        return real_build(*args, **kwargs)

    monkeypatch.setattr(tuners.trial, "build_trial", interrupting_build)
    with pytest.raises(KeyboardInterrupt):
        zoo.tune(path, verbose=0)
    tune_dir = tmp_path / "runs" / "digits" / "tune-random"
    state = json.loads((tune_dir / "tune.json").read_text())
    client = MlflowClient(tracking_uri=mlflow_db)
    assert client.get_run(state["mlflow_run_id"]).info.status == "KILLED"
    done = sorted(p.parent.name for p in (tune_dir / "trials").glob("*/record.json"))
    assert len(done) == 2

    monkeypatch.setattr(tuners.trial, "build_trial", real_build)
    builds.clear()
    result = zoo.tune(path, verbose=0)
    assert len(result.records) == 3
    assert {r.trial for r in result.records} >= set(done)
    assert result.mlflow_run_id == state["mlflow_run_id"]
    assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"


# ---- Ray Tune: one test, Ray's start-up is slow --------------------------------------------


def test_ray_four_concurrent_trials_on_one_sqlite_store(tmp_path, mlflow_db):
    """Four trials write to one SQLite store at once: no metric is lost, none stays RUNNING."""
    ray = pytest.importorskip("ray")
    path = recipe(
        tmp_path,
        """
tune.space = {'train.learning_rate': ('log', 1e-3, 3e-2), 'cnn.dense_units': ('choice', [[8], [16]])}
tune.backend = 'ray'
tune.search = 'optuna'
tune.scheduler = 'fifo'
tune.max_trials = 4
tune.num_cpus = 2
tune.cpus_per_trial = 0.5
tune.max_concurrent_trials = 4
""",
    )
    try:
        result = zoo.tune(path, verbose=0)
    finally:
        ray.shutdown()
    assert result.tune_dir.name == "tune-ray-optuna"
    assert len(result.records) == 4
    assert [r.epochs for r in result.records] == [2, 2, 2, 2]
    parent, children = _nested_runs(mlflow_db, result.mlflow_run_id)
    assert len(children) == 4 and {c.info.status for c in children} == {"FINISHED"}
    for child in children:  # every epoch of every trial reached the store
        for key in ("loss", "val_loss", "val_accuracy", "learning_rate"):
            steps = [
                m.step for m in MlflowClient(mlflow_db).get_metric_history(child.info.run_id, key)
            ]
            assert sorted(steps) == [0, 1], (child.info.run_name, key)
    assert {c.info.run_id for c in children} == {r.mlflow_run_id for r in result.records}
    for r in result.records:
        history = MlflowClient(mlflow_db).get_metric_history(r.mlflow_run_id, "val_accuracy")
        assert max(m.value for m in history) == pytest.approx(r.objective)
        tags = tensorboard_tags(result.tune_dir / "trials" / r.trial / "tensorboard")
        assert "_hparams_/session_start_info" in tags
    assert "cnn.dense_units = [" in result.best_recipe.read_text()


# ---- a search folder belongs to one search; Ray's endings on both trackers -----------------


def test_search_identity_ignores_the_budget_only():
    from tuners.api import fingerprint, search_identity

    base = dict(space={"train.learning_rate": ("log", 1e-4, 1e-2)}, algorithm="bayesian")
    same = fingerprint(search_identity(TuneSettings(**base), 5))
    assert fingerprint(search_identity(TuneSettings(**base, max_trials=40), 5)) == same
    assert fingerprint(search_identity(TuneSettings(**base, seed=1), 9)) == same
    for other in (
        dict(base, space={"train.learning_rate": ("log", 1e-4, 1e-1)}),
        dict(base, algorithm="random"),
        dict(base, objective="val_loss"),
        dict(base, direction="min"),
    ):
        assert fingerprint(search_identity(TuneSettings(**other), 5)) != same, other
    ray = dict(base, backend="ray")
    assert search_identity(TuneSettings(**ray), 5)["search"] == "optuna"
    assert fingerprint(search_identity(TuneSettings(**ray, scheduler="fifo"), 5)) != (
        fingerprint(search_identity(TuneSettings(**ray), 5))
    )


def test_ray_endings_agree_in_summary_json(tmp_path):
    """Ray stops a trial by raising SystemExit in its worker, or ends the worker before the
    run wrote its summary: the search gives both the status Ray reports."""
    from types import SimpleNamespace

    from tuners.ray_backend import _agree
    from tuners.trial import TrialRecord

    ctx = SimpleNamespace(tune_dir=tmp_path, name="ray-optuna", experiment="e", parent_run_id=None)
    stopped = tmp_path / "trials" / "a" / "summary.json"
    stopped.parent.mkdir(parents=True)
    stopped.write_text(json.dumps({"status": "FAILED", "failure": "SystemExit: 0", "x": 1}))

    def record(trial, epochs, status="COMPLETED"):
        history = {"val_accuracy": [0.5] * epochs}
        return TrialRecord(trial, {}, 0.5, epochs, epochs, 1.0, status=status, history=history)

    _agree(ctx, [record("a", 1), record("b", 3), record("c", 2, "ERROR")], max_t=3)
    a = json.loads(stopped.read_text())
    assert a == {"status": "FINISHED", "x": 1, "stopped_by_ray": "by Ray after epoch 1"}
    b = json.loads((tmp_path / "trials" / "b" / "summary.json").read_text())
    assert (b["status"], b["stopped_by_ray"], b["epochs_completed"]) == ("FINISHED", None, 3)
    c = json.loads((tmp_path / "trials" / "c" / "summary.json").read_text())
    assert c["status"] == "FAILED"


def test_a_user_error_inside_a_trial_stops_the_search_with_one_sentence(tmp_path, capsys):
    """keras-tuner would retry the trial three times and print each traceback."""
    path = recipe(
        tmp_path,
        """
tune.space = {'train.learning_rate': ('log', 1e-3, 3e-2)}
tune.algorithm = 'random'
tune.max_trials = 3
digits.validation_split = 5000
""",
    )
    assert cli(["tune", path]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("zoo: error: validation_split 5000 leaves")
    oracle = json.loads((tmp_path / "runs" / "digits" / "tune-random" / "oracle.json").read_text())
    assert len(oracle["tried_so_far"]) == 1  # stopped at the first trial, not retried
