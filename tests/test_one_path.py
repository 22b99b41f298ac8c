"""One training path: a signal leaves a whole run that resumes where it stopped; a tuning
trial trains exactly what ``zoo train best.gin`` trains; the packages import one way."""

from __future__ import annotations

import ast
import json
import re
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


PACKAGES = ("zoo", "tuners", "callbacks")
BY_NAME = ("import_module", "__import__")
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def _module_of(root: Path, path: Path) -> str:
    return ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")


def _is_module(root: Path, name: str) -> bool:
    """Whether ``name`` is a module or a package (its ``__init__``) of the tree at ``root``."""
    if not MODULE_NAME.fullmatch(name):
        return False
    base = root / Path(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(root: Path, name: str) -> str | None:
    """The module of the tree that importing ``name`` runs last: the longest prefix of
    ``name`` that is a module (``zoo.errors.unknown`` -> ``zoo.errors``), else None."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        if _is_module(root, ".".join(parts[:cut])):
            return ".".join(parts[:cut])
    return None


def _by_name(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name in BY_NAME


def _imports(
    package: str, root: Path = ROOT, tops: tuple[str, ...] = PACKAGES
) -> dict[str, set[str]]:
    """Every module of ``package`` -> the modules of the tree it imports, at module level or
    in functions.

    - ``import a.b`` and ``from a import b`` reach ``a.b``, a module or a package's
      ``__init__``; ``from a.b import name`` reaches ``a.b`` when ``name`` is not a module.
    - ``importlib.import_module("a.b")`` and ``__import__("a.b")`` reach ``a.b``. A module that
      imports by a computed name (from a table: ``CONFIGURABLE_MODULES`` of zoo.config,
      ``REGISTERING_MODULES`` of zoo.models.saving, ``COMMANDS`` of zoo.cli, the ``_LAZY``
      tables of package ``__init__`` files) reaches every module of ``tops`` that one of its
      strings names.
    - The packages above a module are not edges of their own: Python initialises a package
      before the modules in it, and a module that needs a name of its package's ``__init__``
      imports it, which is an edge.
    """
    found: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        module = _module_of(root, path)
        tree = ast.parse(path.read_text())
        named: set[str] = set()
        computed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                named.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    named.add(sub if _is_module(root, sub) else node.module)
            elif _by_name(node) and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    named.add(first.value)
                else:
                    computed = True
        if computed:
            named.update(
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value.split(".")[0] in tops
                and _is_module(root, node.value)
            )
        found[module] = {t for t in map(lambda n: _resolve(root, n), named) if t} - {module}
    return found


def _graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    return {m: ts for package in packages for m, ts in _imports(package, root, packages).items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first again at the end)."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt] if nxt in trail else [*trail, nxt]
            if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


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


# zoo.errors and zoo._compat are leaves (they import nothing from zoo), so callbacks, which
# use them, stay a layer below zoo: callbacks raise zoo's errors, and they reach Keras'
# private names through the one module that owns every such access (tests/test_compat.py).
CALLBACKS_MAY_IMPORT = {"zoo.errors", "zoo._compat"}


def test_callbacks_import_nothing_from_zoo_but_errors_and_compat():
    for module, targets in _imports("callbacks").items():
        reached = {t for t in targets if t.split(".")[0] == "zoo"}
        assert reached <= CALLBACKS_MAY_IMPORT, module
    graph = _graph()
    for leaf in CALLBACKS_MAY_IMPORT:
        assert not {t for t in graph[leaf] if t.split(".")[0] == "zoo"}, leaf


def test_zoo_core_never_imports_tuners():
    # ``zoo tune`` (zoo.cli.tune) is the front door to tuners, as ``zoo.tune`` (the lazy table
    # of zoo/__init__.py) is in Python
    for module, targets in _imports("zoo").items():
        if module in ("zoo", "zoo.cli.tune"):
            continue
        assert not {t for t in targets if t.split(".")[0] == "tuners"}, module


def test_no_module_imports_a_private_name():
    bad = [b for pkg in ("zoo", "tuners", "callbacks") for b in _private_imports(pkg)]
    assert not bad, bad


def test_the_import_graph_sees_names_tables_and_package_inits(tmp_path):
    files = {
        "pkg/__init__.py": "import importlib\n_LAZY = {'thing': 'pkg.lazy'}\n"
        "def __getattr__(name):\n    return importlib.import_module(_LAZY[name])\n",
        "pkg/lazy.py": "from pkg.a import f\n",
        "pkg/a.py": "import importlib\ndef f():\n    return importlib.import_module('pkg.b')\n",
        "pkg/b.py": "def g():\n    return __import__('pkg.c')\n",
        "pkg/c.py": "import importlib\nMODULES = ['pkg.d']\n"
        "def h():\n    return [importlib.import_module(m) for m in MODULES]\n",
        "pkg/d.py": "from pkg import VALUE\nfrom pkg import sub\n",
        "pkg/sub/__init__.py": "NOTE = 'pkg.a'  # a string, not an import\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = _graph(tmp_path, ("pkg",))
    assert graph == {
        "pkg": {"pkg.lazy"},
        "pkg.lazy": {"pkg.a"},
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.c"},
        "pkg.c": {"pkg.d"},
        "pkg.d": {"pkg", "pkg.sub"},
        "pkg.sub": set(),
    }
    assert _cycle(graph) == ["pkg", "pkg.lazy", "pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg"]


def test_no_import_cycles_between_modules():
    # edges into package __init__ files count, lazy tables included: a module reached from a
    # package's front door never imports that front door back
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
