"""zoo._compat: what each of its functions relies on in gin, Keras and TensorFlow still holds
on the installed releases, and no other module reaches a private name of theirs."""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from zoo import _compat

ROOT = Path(__file__).resolve().parent.parent
COMPAT = ROOT / "zoo" / "_compat.py"


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, pinned = line.partition("==")
        if sep and not line.startswith("#"):
            pins[name.strip().lower()] = pinned.strip()
    return pins


def _releases(fn: Callable) -> str:
    return ", ".join(f"{dist} {v}" for dist, v in fn.checked_against.items())


@contextlib.contextmanager
def relying(fn: Callable, what: str) -> Iterator[None]:
    """Turn a broken assumption of ``fn`` into one sentence that says what changed where."""
    try:
        yield
    except Exception as exc:  # the assertion that failed, or the attribute that went away
        first = (str(exc).strip().splitlines() or [""])[0]
        installed = ", ".join(f"{dist} {version(dist)}" for dist in fn.checked_against)
        pytest.fail(
            f"zoo._compat.{fn.__name__} relies on {what}, which no longer holds with "
            f"{installed} (checked against {_releases(fn)}): {type(exc).__name__} {first}. "
            "Adapt that function in zoo/_compat.py to this release.",
            pytrace=False,
        )


# ---- the releases each function was checked against ------------------------------------------


def _functions() -> dict[str, Callable]:
    return {
        name: fn
        for name, fn in vars(_compat).items()
        if inspect.isfunction(fn) and fn.__module__ == _compat.__name__ and name != "checked"
    }


def test_every_function_names_the_releases_constraints_pins():
    pins = _pins()
    assert len(_functions()) >= 9
    for name, fn in _functions().items():
        assert getattr(fn, "checked_against", None), f"zoo._compat.{name} has no @checked(...)"
        for dist, checked in fn.checked_against.items():
            assert pins.get(dist) == checked, (
                f"zoo._compat.{name} was checked against {dist} {checked}, but constraints.txt "
                f"pins {dist} {pins.get(dist)}: run tests/test_compat.py on the pinned release "
                "and then correct its @checked(...)"
            )


def test_importing_it_imports_neither_keras_nor_tensorflow():
    # zoo.config and callbacks import it at module level on the cheap path of `zoo --help`
    code = "import sys, zoo._compat; print(sorted({'keras', 'tensorflow'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- gin ---------------------------------------------------------------------------------------


def test_gin_registry_lists_and_finds_configurables():
    from zoo.config import register_configurables
    from zoo.models import cnn

    register_configurables()
    with relying(_compat.gin_selectors, "gin.config._REGISTRY.items() giving selectors"):
        selectors = _compat.gin_selectors()
        assert {"zoo.models.cnn", "zoo.train", "zoo.datasets.digits"} <= set(selectors)
        assert all(isinstance(s, str) for s in selectors)
    with relying(_compat.gin_function, "gin.config._REGISTRY.get_match(name).wrapped"):
        assert _compat.gin_function("cnn") is inspect.unwrap(cnn.cnn)
        assert _compat.gin_function("zoo.models.cnn") is inspect.unwrap(cnn.cnn)
        assert "filters" in inspect.signature(_compat.gin_function("cnn")).parameters
        assert _compat.gin_function("no_such_configurable") is None


def test_gin_bindings_are_the_parsed_table():
    import gin

    from zoo.config import parse

    parse(None, ["cnn.filters = [8, 16]", "train.epochs = 3", "big/cnn.dense_units = [4]"])
    with relying(_compat.gin_bindings, "gin.config._CONFIG: (scope, selector) -> {param: value}"):
        bindings = _compat.gin_bindings()
        assert bindings[("", "zoo.models.cnn")] == {"filters": [8, 16]}
        assert bindings[("", "zoo.train")] == {"epochs": 3}
        assert bindings[("big", "zoo.models.cnn")] == {"dense_units": [4]}
        bindings[("", "zoo.train")]["epochs"] = 99  # a copy: gin keeps its own
        assert gin.query_parameter("train.epochs") == 3
        gin.clear_config()
        assert _compat.gin_bindings() == {}


def test_gin_operative_bindings_hold_what_was_called():
    import gin

    from zoo.config import parse
    from zoo.training.settings import current_settings

    parse(None, ["train.epochs = 4"])
    fn = _compat.gin_operative_bindings
    with relying(fn, "gin.config._OPERATIVE_CONFIG: (scope, selector) -> {param: value}"):
        assert ("", "zoo.train") not in fn()  # not called yet
        settings = current_settings()
        operative = fn()
        assert operative[("", "zoo.train")]["epochs"] == 4
        assert operative[("", "zoo.train")]["batch_size"] == settings.batch_size  # a default
        operative[("", "zoo.train")]["epochs"] = 99  # a copy: gin keeps its own
        assert "train.epochs = 4" in gin.operative_config_str()


# ---- Keras and TensorFlow ------------------------------------------------------------------------


def test_learning_rate_of_is_the_schedule_or_the_rate_variable():
    import keras

    fn = _compat.learning_rate_of
    with relying(fn, "optimizer._learning_rate holding the schedule or the rate's variable"):
        schedule = keras.optimizers.schedules.ExponentialDecay(0.5, 10, 0.9)
        assert fn(keras.optimizers.Adam(learning_rate=schedule)) is schedule
        fixed = keras.optimizers.SGD(learning_rate=0.25)
        rate = fn(fixed)
        assert not isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)
        assert float(keras.ops.convert_to_numpy(rate)) == 0.25
        fixed.learning_rate = schedule  # what callbacks.schedules.scalable does
        assert fn(fixed) is schedule
        assert fn(object()) is None


def test_optimizer_variable_finds_the_keras_variable():
    import keras

    fn = _compat.optimizer_variable
    with relying(fn, "optimizer._trainable_variables and optimizer._get_variable_index"):
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        optimizer = keras.optimizers.Adam()
        optimizer.build(net.trainable_variables)
        assert len(net.trainable_variables) == 2
        for variable in net.trainable_variables:
            assert fn(optimizer, variable) is variable
            assert fn(optimizer, variable.value) is variable  # the backend's own variable


def test_nested_layers_walks_every_depth():
    import keras

    with relying(_compat.nested_layers, "model._flatten_layers(include_self, recursive)"):
        inner = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(3, name="inner_dense")], name="inner"
        )
        outer = keras.Sequential(
            [keras.Input((4,)), inner, keras.layers.BatchNormalization(name="bn")], name="outer"
        )
        layers = list(_compat.nested_layers(outer))
        names = [x.name for x in layers if not isinstance(x, keras.layers.InputLayer)]
        assert sorted(names) == ["bn", "inner", "inner_dense"]


def test_strategy_from_scope_lets_the_model_follow_the_scope():
    import keras
    import tensorflow as tf

    with relying(_compat.strategy_from_scope, "model._distribute_strategy (None: the scope's)"):
        made_in = tf.distribute.OneDeviceStrategy("/cpu:0")
        runs_in = tf.distribute.OneDeviceStrategy("/cpu:0")
        with made_in.scope():
            net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        with runs_in.scope():
            assert net.distribute_strategy is made_in  # kept from when it was made
        _compat.strategy_from_scope(net)
        with runs_in.scope():
            assert net.distribute_strategy is runs_in
        assert net.distribute_strategy is tf.distribute.get_strategy()


def test_average_multi_worker_logs_replaces_the_trainers_reduction(monkeypatch):
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    fn = _compat.average_multi_worker_logs
    original = trainer.reduce_per_replica
    monkeypatch.setattr(trainer, "reduce_per_replica", original)  # restored afterwards
    with relying(fn, "keras.src.backend.tensorflow.trainer.reduce_per_replica"):
        assert list(inspect.signature(original).parameters) == ["values", "strategy", "reduction"]
        # the trainer looks the function up in its module when it runs a step
        assert re.search(r"\breduce_per_replica\(", inspect.getsource(trainer.TensorFlowTrainer))
        fn()
        patched = trainer.reduce_per_replica
        assert patched is not original and patched.zoo_fixed
        fn()
        assert trainer.reduce_per_replica is patched  # once only
        logs = {"loss": tf.constant(2.0)}
        strategy = tf.distribute.get_strategy()
        assert float(patched(logs, strategy, "auto")["loss"]) == float(
            original(logs, strategy, "auto")["loss"]
        )


# ---- nobody else reaches in --------------------------------------------------------------------

DEPENDENCIES = ("gin", "keras", "tensorflow")
PRIVATE_PACKAGES = ("src", "python")  # keras.src, tensorflow.python
SOURCES = ("zoo", "tuners", "callbacks", "tests", "benchmarks")
REFLECTION = ("getattr", "setattr", "hasattr", "delattr")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _owned(trees: list[ast.AST]) -> set[str]:
    """The private names the project defines itself: attributes it assigns, functions,
    methods, classes and class or module variables it defines, keywords it passes
    (``parser.set_defaults(_run=...)``)."""
    owned = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                owned.add(node.attr)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                owned.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                owned.add(node.id)
            elif isinstance(node, ast.keyword) and node.arg:
                owned.add(node.arg)
    return {name for name in owned if _private(name)}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def private_uses(tree: ast.AST, owned: set[str]) -> list[str]:
    """Where ``tree`` names a private module or attribute of gin, Keras or TensorFlow: an
    attribute reached from a module of theirs, or one the project never defines itself
    (``optimizer._learning_rate``, ``self._trainable_variables`` in a subclass), directly or
    through ``getattr``; an import of ``keras.src``, ``tensorflow.python`` or a ``_module``."""
    aliases: set[str] = set()
    found: list[str] = []

    def foreign(parts: list[str]) -> bool:
        return parts[0] in DEPENDENCIES and any(
            _private(p) or p in PRIVATE_PACKAGES for p in parts[1:]
        )

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DEPENDENCIES:
                    aliases.add(alias.asname or alias.name.split(".")[0])
                if foreign(alias.name.split(".")):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] in DEPENDENCIES:
                aliases.update(a.asname or a.name for a in node.names)
                found += [
                    f"{node.lineno}: from {node.module} import {a.name}"
                    for a in node.names
                    if foreign([*parts, a.name])
                ]
    for node in ast.walk(tree):
        target = name = None
        if isinstance(node, ast.Attribute) and _private(node.attr):
            target, name = node.value, node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in REFLECTION
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            target, name = node.args[0], node.args[1].value
        if name is not None and (_root(target) in aliases or name not in owned):
            found.append(f"{node.lineno}: {ast.unparse(target)}.{name}")
    return found


def _sources() -> dict[Path, ast.AST]:
    return {
        path: ast.parse(path.read_text())
        for top in SOURCES
        for path in sorted((ROOT / top).rglob("*.py"))
    }


def test_the_scan_sees_each_way_of_reaching_in():
    sample = ast.parse(
        "import gin\n"
        "from keras.src.backend.tensorflow import trainer\n"
        "import tensorflow.python.eager\n"
        "from gin import config\n"
        "a = gin.config._CONFIG\n"
        "b = config._REGISTRY\n"
        "c = optimizer._learning_rate\n"
        "d = getattr(model.optimizer, '_learning_rate', None)\n"
        "class Mine(Base):\n"
        "    def f(self, v):\n"
        "        self._mine = 1\n"
        "        return self._trainable_variables[self._mine], self._helper()\n"
        "    def _helper(self):\n"
        "        return args._run, self.__class__\n"
    )
    found = private_uses(sample, _owned([sample, ast.parse("parser.set_defaults(_run=1)")]))
    assert [f.split(": ", 1)[1] for f in found] == [
        "from keras.src.backend.tensorflow import trainer",
        "import tensorflow.python.eager",
        "gin.config._CONFIG",
        "config._REGISTRY",
        "optimizer._learning_rate",
        "model.optimizer._learning_rate",
        "self._trainable_variables",
    ]


def test_no_module_but_compat_names_a_private_name_of_gin_keras_or_tensorflow():
    sources = _sources()
    owned = _owned(list(sources.values()))
    bad = [
        f"{path.relative_to(ROOT)}:{use}"
        for path, tree in sources.items()
        if path not in (COMPAT, Path(__file__))  # this file checks what _compat relies on
        for use in private_uses(tree, owned)
    ]
    assert not bad, f"only zoo/_compat.py may reach into gin, Keras or TensorFlow: {bad}"
    assert private_uses(sources[COMPAT], owned)  # and the scan does see it there
