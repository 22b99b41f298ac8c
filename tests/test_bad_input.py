"""Bad input never ends in a traceback: any recipe text and any --bind value gives a run (here:
a checked recipe) or one clear sentence and exit code 2. Property-based (hypothesis)."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import zoo
from zoo.cli import main
from zoo.errors import ConfigError

KNOBS = [
    "train.epochs",
    "train.batch_size",
    "train.learning_rate",
    "train.optimizer",
    "train.precision",
    "train.target",
    "train.loss",
    "train.metrics",
    "train.early_stopping_patience",
    "train.schedule",
    "train.reduce_on_plateau",
    "train.steps_per_epoch",
    "train.seed",
    "train.model",
    "train.run_name",
    "train.test_time_augment",
    "train.label_smoothing",
    "train.jit_compile",
    "cnn.filters",
    "cnn.whiten",
    "cnn.batch_norm_scale",
    "cnn.dense_units",
    "cnn.dropout",
    "cnn.kernel_size",
    "digits.train_size",
    "digits.validation_split",
    "optimizer.momentum",
    "optimizer.clipnorm",
    "optimizer.ema_momentum",
    "warmup_cosine.warmup_epochs",
    "plateau.factor",
]
GARBAGE = ["[", "'unterminated", "@nowhere", "%MACRO", "1 2", "{'a': }", ")", "--", "=", ""]

scalars = st.one_of(
    st.integers(-10, 100_000),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.booleans(),
    st.none(),
    st.text(alphabet="abcxyz_ 09", max_size=8),
    st.sampled_from(
        ["adam", "sgd", "cnn", "mlp", "auto", "float32", "sparse", "warmup_cosine", "flip"]
        + ["flip_translate"]
    ),
)
values = st.one_of(
    scalars.map(repr),
    st.lists(st.integers(-3, 40), max_size=3).map(repr),
    st.sampled_from(GARBAGE),
)
bindings = st.tuples(st.sampled_from(KNOBS), values).map(lambda kv: f"{kv[0]} = {kv[1]}")
lines = st.one_of(bindings, st.sampled_from(GARBAGE), st.text(max_size=20))

SMALL = ["digits.train_size = 200", "cnn.filters = [4]", "cnn.dense_units = [8]"]


def _cli(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _assert_run_or_one_sentence(code: int, err: str) -> None:
    assert code in (0, 2), err
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[-1].startswith("zoo: error: "), err
        assert "Traceback" not in err


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(bindings, min_size=1, max_size=3))
def test_any_bind_gives_a_checked_run_or_one_sentence(extra):
    argv = ["train", "digits_cnn", "--check"]
    for b in [*SMALL, *extra]:
        argv += ["--bind", b]
    _assert_run_or_one_sentence(*_cli(argv))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(lines, min_size=1, max_size=4))
def test_any_recipe_text_gives_a_checked_run_or_one_sentence(tmp_path, body):
    path = tmp_path / "fuzzed.gin"
    path.write_text("include 'digits_cnn.gin'\n" + "\n".join([*SMALL, *body]) + "\n")
    _assert_run_or_one_sentence(*_cli(["train", str(path), "--check"]))


@pytest.mark.parametrize(
    ("binding", "meant"),
    [
        ("train.optimizer=sgd", "train.optimizer='sgd'"),
        ("cnn.filters=16,32", "cnn.filters=[16, 32]"),
        ("cnn.filters = 16, 32", "cnn.filters=[16, 32]"),
        ("train.metrics=accuracy,top5", "train.metrics=['accuracy', 'top5']"),
    ],
)
def test_unquoted_string_or_bare_list_gets_the_corrected_binding(binding, meant):
    sentence = f'did you mean --bind "{meant}"?'
    code, err = _cli(["train", "digits_cnn", "--check", "--bind", binding])
    _assert_run_or_one_sentence(code, err)
    assert code == 2 and err.rstrip().endswith(sentence), err
    with pytest.raises(ConfigError) as caught:
        zoo.train("digits_cnn", [binding])
    assert str(caught.value).endswith(sentence)
    assert str(caught.value) == err.strip().removeprefix("zoo: error: ")


def test_bindings_gin_reads_are_not_corrected():
    from zoo.config import corrected_binding

    for binding in ("train.epochs=3", "train.optimizer='sgd'", "cnn.filters=[16, 32]"):
        assert corrected_binding(binding) is None
    assert corrected_binding("x.y=a b") is None  # two words: no guess


def test_a_file_store_gets_one_sentence_not_mlflow_traceback(monkeypatch):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    code, err = _cli(["train", "digits_cnn", "--bind", "train.tracking_uri='file:./mlruns'"])
    assert code == 2
    assert "MLflow's file store (file:./mlruns) is in maintenance mode" in err
    _assert_run_or_one_sentence(code, err)
