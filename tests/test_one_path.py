"""One training path: a signal leaves a whole run that resumes where it stopped; a tuning
trial trains exactly what ``zoo train best.gin`` trains; the packages import one way."""

from __future__ import annotations

import ast
import json
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import zoo
from tests.procs import TINY_DIGITS, start_zoo
from zoo.tracking.readers import read_tensorboard

ROOT = Path(__file__).resolve().parent.parent

TINY = TINY_DIGITS


def write_recipe(tmp_path: Path, text: str, name: str = "tiny.gin") -> str:
    path = tmp_path / name
    path.write_text(TINY + text)
    return str(path)


# ---- signals: SIGTERM, SIGHUP and SIGINT end a real `zoo train` KILLED ---------------------


def _wait_for_epochs(proc, history: Path, epochs: int, deadline_s: float = 600.0) -> None:
    """Poll until ``history.csv`` has ``epochs`` rows (no fixed sleep: loaded machines vary)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            out = proc.stdout.read()
            pytest.fail(f"zoo train ended early with {proc.returncode}:\n{out[-3000:]}")
        if history.is_file() and len(history.read_text().splitlines()) > epochs:
            return
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no {epochs} epochs in {deadline_s} s")


@pytest.mark.parametrize(
    "signame, drop_summary", [("SIGTERM", False), ("SIGHUP", True), ("SIGINT", False)]
)
def test_signal_ends_the_run_killed_and_resume_continues_it(
    tmp_path, mlflow_db, signame, drop_summary
):
    path = write_recipe(tmp_path, "train.epochs = 500\ntrain.run_name = 'sig'\n")
    run_dir = tmp_path / "runs" / "digits" / "sig"
    proc = start_zoo("train", path, cwd=tmp_path)
    try:
        _wait_for_epochs(proc, run_dir / "history.csv", 2)
        signum = getattr(signal, signame)
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, out[-3000:]
    assert "--resume" in out and f"stopped by {signame}" in out

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "KILLED" and summary["failure"] == f"stopped by {signame}"
    client = MlflowClient(tracking_uri=mlflow_db)
    run_id = summary["mlflow"]["run_id"]
    assert client.get_run(run_id).info.status == "KILLED"
    done = summary["epochs_completed"]
    assert done >= 2
    last = json.loads((run_dir / "checkpoints" / "last.json").read_text())
    assert last["epochs"] == done  # the checkpoint holds exactly the logged epochs

    if drop_summary:  # a hard kill leaves no summary: the run is found by its directory tag
        (run_dir / "summary.json").unlink()
    result = zoo.train(path, [f"train.epochs = {done + 2}"], resume=True)
    assert result.status == "FINISHED" and result.mlflow_run_id == run_id
    steps = [m.step for m in client.get_metric_history(run_id, "loss")]
    assert sorted(steps) == list(range(done + 2))  # none missing, none twice
    assert sorted(read_tensorboard(run_dir / "tensorboard")["loss"]) == list(range(done + 2))
    assert len(result.history["loss"]) == done + 2
    assert client.get_run(run_id).info.status == "FINISHED"


# ---- a trial trains what `zoo train best.gin` trains ----------------------------------------

SCHEDULED = """
train.epochs = 3
train.learning_rate = 0.01
train.schedule = 'warmup_cosine'
warmup_cosine.warmup_epochs = 1
train.reduce_on_plateau = True
plateau.patience = 1
plateau.min_delta = 0.5
tune.space = {'train.learning_rate': ('choice', [0.005, 0.02])}
"""
COMPARED = ("learning_rate", "lr_factor", "val_loss", "val_accuracy")


def _per_epoch(client, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def _assert_same_training(client, trial_run: str, retrained_run: str, rel: float) -> None:
    for key in COMPARED:
        trial, retrained = (
            _per_epoch(client, trial_run, key),
            _per_epoch(client, retrained_run, key),
        )
        assert len(trial) == 3, key
        worst = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(trial, retrained, strict=True))
        print(f"{key}: largest relative difference, trial against retrained run: {worst:.2e}")
        assert retrained == pytest.approx(trial, rel=rel, abs=1e-7), key
    rates = _per_epoch(client, trial_run, "learning_rate")
    assert len(set(rates)) == 3  # the schedule ran in the trial: the rate is not flat


def test_keras_tuner_trial_trains_what_zoo_train_trains(tmp_path, mlflow_db):
    path = write_recipe(tmp_path, SCHEDULED + "tune.algorithm = 'grid'\ntune.max_trials = 2\n")
    result = zoo.tune(path, verbose=0)
    assert len(result.records) == 2
    retrained = zoo.train(str(result.best_recipe), ["train.run_name = 'retrained'"])
    client = MlflowClient(tracking_uri=mlflow_db)
    # float32 on the CPU, same seed, same process: identical to the last bit
    _assert_same_training(client, result.best.mlflow_run_id, retrained.mlflow_run_id, rel=1e-6)


def test_ray_trial_trains_what_zoo_train_trains(tmp_path, mlflow_db):
    ray = pytest.importorskip("ray")
    path = write_recipe(
        tmp_path,
        SCHEDULED
        + """
tune.backend = 'ray'
tune.search = 'random'
tune.scheduler = 'fifo'
tune.max_trials = 1
tune.num_cpus = 1
""",
    )
    try:
        result = zoo.tune(path, verbose=0)
    finally:
        ray.shutdown()
    retrained = zoo.train(str(result.best_recipe), ["train.run_name = 'retrained'"])
    client = MlflowClient(tracking_uri=mlflow_db)
    # another process with its own thread pools: equal up to float32 summation order
    _assert_same_training(client, result.best.mlflow_run_id, retrained.mlflow_run_id, rel=1e-3)


# ---- knobs that were ignored ----------------------------------------------------------------


def test_optimizer_name_binding_is_honoured():
    result = zoo.train(
        "digits_cnn",
        [*TINY.strip().splitlines()[1:], "train.epochs = 1", "optimizer.name = 'sgd'"],
    )
    import keras

    model = keras.saving.load_model(result.run_dir / "checkpoints" / "last.keras")
    assert type(model.optimizer).__name__ == "SGD"
    with pytest.raises(zoo.ZooError, match="disagree"):
        zoo.train(
            "digits_cnn",
            ["train.optimizer = 'rmsprop'", "optimizer.name = 'sgd'", "train.run_name = 'x'"],
        )


def test_plumbing_is_not_in_the_operative_config():
    result = zoo.train("digits_cnn", [*TINY.strip().splitlines()[1:], "train.epochs = 1"])
    operative = (result.run_dir / "operative_config.gin").read_text()
    for name in ("fold", "parent_run_id", "recipe", "extra_callbacks", "verbose", "mlflow"):
        assert f"train.{name} " not in operative, name
    assert "train.epochs = 1" in operative


# ---- imports run one way ---------------------------------------------------------------------


def _imports(package: str) -> dict[str, set[str]]:
    """Every module of ``package`` -> the modules it imports (module level or in functions)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
        found[module] = names
    return found


def _private_imports(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                if top in ("zoo", "tuners", "callbacks"):
                    own = path.relative_to(ROOT).with_suffix("").parts
                    if ".".join(own).removesuffix(".__init__") == node.module:
                        continue
                    bad += [
                        f"{path.name}: {node.module}.{a.name}"
                        for a in node.names
                        if a.name.startswith("_") and a.name != "__version__"
                    ]
    return bad


def test_callbacks_import_nothing_from_zoo_but_errors():
    for module, names in _imports("callbacks").items():
        reached = {n for n in names if n.split(".")[0] == "zoo"}
        assert reached <= {"zoo.errors", "zoo.errors.ConfigError", "zoo.errors.unknown"}, module


def test_zoo_core_never_imports_tuners():
    # ``zoo tune`` (zoo.cli.tune) is the front door to tuners, as ``zoo.tune`` is in Python
    for module, names in _imports("zoo").items():
        if module == "zoo.cli.tune":
            continue
        assert not {n for n in names if n.split(".")[0] == "tuners"}, module


def test_no_module_imports_a_private_name():
    bad = [b for pkg in ("zoo", "tuners", "callbacks") for b in _private_imports(pkg)]
    assert not bad, bad


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for pkg in ("zoo", "tuners", "callbacks"):
        for module, names in _imports(pkg).items():
            graph[module] = set()
            for name in names:
                parts = name.split(".")
                for cut in range(len(parts), 0, -1):
                    target = ".".join(parts[:cut])
                    if target != module and (
                        (ROOT / Path(*parts[:cut])).with_suffix(".py").is_file()
                        or (ROOT / Path(*parts[:cut]) / "__init__.py").is_file()
                    ):
                        graph[module].add(target)
                        break

    def is_package_init(target: str) -> bool:
        return (ROOT / Path(*target.split(".")) / "__init__.py").is_file()

    # a package's __init__ re-exporting its modules lazily is not a cycle of the code
    edges = {m: {t for t in ts if not is_package_init(t)} for m, ts in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
