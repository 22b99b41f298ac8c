"""`zoo compare`: TensorBoard against MLflow, value by value, on tiny real runs."""

from __future__ import annotations

import importlib
import struct

import pytest
from mlflow.tracking import MlflowClient

import zoo
from zoo.cli import main as cli
from zoo.comparison import problems

TINY = [
    "digits.train_size = 300",
    "cnn.filters = [8]",
    "cnn.dense_units = [16]",
    "train.batch_size = 32",
    "train.epochs = 3",
]
EPOCH_KEYS = ["accuracy", "learning_rate", "loss", "val_accuracy", "val_loss"]


def run_a():
    return zoo.train("digits_cnn", [*TINY, "train.run_name = 'a'"])


@pytest.fixture
def two_runs():
    a = run_a()
    b = zoo.train("digits_cnn", [*TINY, "train.run_name = 'b'", "train.learning_rate = 0.005"])
    return a, b


def test_runs_agree_table_report_and_figure(two_runs, capsys, tmp_path):
    a, b = two_runs
    table = zoo.compare(experiment="digits")
    # per run: 5 per-epoch metrics x 3 epochs + 2 test metrics at the last epoch, and the
    # evaluation's 10 classes x (precision, recall, F1) + 3 macro averages
    assert len(table) == 2 * (5 * 3 + 2 + 10 * 3 + 3)
    assert list(table["run"].unique()) == ["a", "b"]
    assert set(table["status"]) == {"ok"}
    assert (table["difference"] == 0).all()
    per_class = table["metric"].str.contains("/") | table["metric"].str.startswith("test_macro")
    assert sorted(table[(table["run"] == "a") & ~per_class]["metric"].unique()) == sorted(
        EPOCH_KEYS + ["test_accuracy", "test_loss"]
    )
    val = table[(table["run"] == "b") & (table["metric"] == "val_loss")]
    assert list(val["step"]) == [0, 1, 2]
    assert list(val["mlflow"]) == pytest.approx(b.history["val_loss"], rel=1e-6)
    assert set(table.attrs["diagnosis"]) == {"digits/a", "digits/b"}
    assert table.attrs["params"]["digits/b"]["train.learning_rate"] == "0.005"

    # every classification run writes its evaluation on the test set; b's is removed here
    import shutil

    shutil.rmtree(b.run_dir / "evaluation")

    # the same through the CLI, by run directory, with the figure and the report
    png, report = tmp_path / "curves.png", tmp_path / "report.html"
    code = cli(
        ["compare", str(a.run_dir), str(b.run_dir), "--png", str(png), "--html", str(report)]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "TensorBoard and MLflow agree: 100 values in 2 run(s)." in out
    assert "diagnosis of digits/a:" in out
    with open(png, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (3 * 5 * 110, int(3.6 * 110))  # loss, accuracy, learning rate
    text = report.read_text()
    assert "data:image/png;base64," in text
    assert "TensorBoard and MLflow agree: 100 values" in text
    assert "+train.learning_rate = 0.005" in text and "-train.learning_rate = 0.002" in text
    assert '<tr class="diff"><td>train.learning_rate</td><td>0.002</td><td>0.005</td>' in text
    assert "img{max-width:100%;height:auto}" in text  # the curves fit the page
    evaluation = text.split("<h2>Evaluation on the test set</h2>", 1)[1].split("<h2>")[0]
    assert evaluation.startswith("\n<h3>digits/a</h3>\n<table><tr><th>class</th>")
    assert "<td>macro mean</td>" in evaluation and "alt='confusion matrix'" in evaluation
    assert "<h3>digits/b</h3>" not in evaluation  # b has no evaluation/ folder


def test_disagreement_and_missing_metric_fail_loudly(capsys, mlflow_db):
    import tensorflow as tf

    a = run_a()
    # MLflow gets a different value for one step; TensorBoard gets a metric MLflow lacks
    MlflowClient(tracking_uri=mlflow_db).log_metric(a.mlflow_run_id, "val_loss", 9.5, step=1)
    writer = tf.summary.create_file_writer(str(a.run_dir / "tensorboard"))
    with writer.as_default():
        tf.summary.scalar("extra", 1.0, step=0)
    writer.close()

    table = zoo.compare(a.run_dir)
    bad = problems(table)
    assert list(zip(bad["metric"], bad["step"], bad["status"], strict=True)) == [
        ("extra", 0, "missing in MLflow"),
        ("val_loss", 1, "differs"),
    ]
    row = bad[bad["metric"] == "val_loss"].iloc[0]
    assert row["mlflow"] == 9.5
    assert row["difference"] == pytest.approx(9.5 - a.history["val_loss"][1], rel=1e-6)

    assert cli(["compare", str(a.run_dir)]) == 1
    captured = capsys.readouterr()
    assert "<- differs" in captured.out and "<- missing in MLflow" in captured.out
    assert (
        "TensorBoard and MLflow disagree on 2 of 51 values (1 missing in MLflow, 1 differs); "
        "first: digits/a extra step 0 (missing in MLflow)." in captured.err
    )


def test_user_errors_exit_2(capsys, tmp_path):
    assert cli(["compare", "nowhere"]) == 2
    assert "'nowhere' is neither a run directory" in capsys.readouterr().err
    assert cli(["compare"]) == 2
    assert "Name the runs to compare" in capsys.readouterr().err
    run = tmp_path / "runs" / "x" / "r"
    (run / "tensorboard").mkdir(parents=True)
    (run / "summary.json").write_text('{"run_name": "r", "experiment": "x"}')
    assert cli(["compare", "--experiment", "x"]) == 2
    assert "has no MLflow run" in capsys.readouterr().err
    (run / "summary.json").write_text(
        '{"run_name": "r", "mlflow": {"run_id": "0123", "tracking_uri": "http://127.0.0.1:9"}}'
    )
    assert cli(["compare", str(run)]) == 2
    assert "The MLflow server http://127.0.0.1:9 does not answer" in capsys.readouterr().err


def test_compare_is_the_function_and_modules_say_their_job():
    import inspect

    import zoo.comparison

    assert zoo.compare is zoo.comparison.compare and inspect.isfunction(zoo.compare)
    assert zoo.diagnose.diagnose({"loss": [1.0, 0.5]})[0].kind == "too_short"
    # no module of the package reaches into another's private names
    modules = [f"zoo.comparison.{n}" for n in ("discover", "sides", "table", "plots", "report")]
    for name in (*modules, "zoo.cli.compare"):
        source = inspect.getsource(importlib.import_module(name))
        imports = [line for line in source.splitlines() if line.lstrip().startswith("from zoo")]
        assert not any(" _" in line.split(" import ", 1)[1] for line in imports), name


def _mixed_experiment(tmp_path):
    """An experiment 'mix' made by the real commands: a run, a run without MLflow, one without
    TensorBoard, a run killed by SIGTERM, a failed run, a find-lr sweep, a two-trial search
    and a three-fold cross-validation."""
    import os
    import signal

    import keras

    mix = [*TINY, "train.epochs = 2", "train.precision = 'float32'", "train.experiment = 'mix'"]
    zoo.train("digits_cnn", [*mix, "train.run_name = 'plain'"], verbose=0)
    zoo.train("digits_cnn", [*mix, "train.run_name = 'nomlflow'"], mlflow=False, verbose=0)
    zoo.train("digits_cnn", [*mix, "train.run_name = 'notb'"], tensorboard=False, verbose=0)

    class Terminate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            os.kill(os.getpid(), signal.SIGTERM)

    class Fail(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("disk full")

    with pytest.raises(KeyboardInterrupt):
        zoo.train("digits_cnn", [*mix, "train.run_name = 'killed'"], extra_callbacks=[Terminate()])
    with pytest.raises(RuntimeError, match="disk full"):
        zoo.train("digits_cnn", [*mix, "train.run_name = 'failed'"], extra_callbacks=[Fail()])
    zoo.find_lr("digits_cnn", mix, steps=12, skip_start=2, run_name="sweep")
    search = tmp_path / "search.gin"
    search.write_text(
        "include 'digits_cnn.gin'\n"
        + "\n".join([*mix, "train.epochs = 1"])
        + "\ntune.space = {'train.learning_rate': ('log', 1e-3, 3e-2)}\n"
        "tune.algorithm = 'random'\ntune.max_trials = 2\n"
    )
    zoo.tune(str(search), verbose=0)
    corpus = tmp_path / "corpus"
    for label, words in (("neg", ["bad", "dull", "awful"]), ("pos", ["good", "fine", "great"])):
        (corpus / label).mkdir(parents=True)
        for i in range(24):
            text = " ".join(words[(i + j) % 3] for j in range(5))
            (corpus / label / f"{i:02d}.txt").write_text(text)
    zoo.train(
        "mr_embedding_bag",
        [
            "train.dataset = 'text_folder'",
            f"text_folder.directory = '{corpus}'",
            "train.epochs = 2",
            "train.batch_size = 16",
            "train.precision = 'float32'",
            "train.experiment = 'mix'",
            "train.run_name = 'cv'",
            "embedding_bag.embedding_dim = 8",
            "train.folds = 3",
        ],
        verbose=0,
    )


def test_any_experiment_folder_is_compared_and_what_is_left_out_says_why(tmp_path, capsys):
    _mixed_experiment(tmp_path)
    table = zoo.compare(experiment="mix")
    compared = set(table["run"])
    trials = sorted(r for r in compared if "trial" in r)
    assert compared == {"plain", "killed", "failed", "sweep", "cv/fold-01", "cv/fold-02"} | {
        "cv/fold-03",
        *trials,
    }
    assert len(trials) == 2
    assert set(table["status"]) == {"ok"}
    assert table.attrs["statuses"]["mix/killed"] == "KILLED"
    assert table.attrs["statuses"]["mix/failed"] == "FAILED"
    # the killed and the failed run stopped after their first epoch: compared as far as they got
    for run in ("killed", "failed"):
        assert set(table[(table["run"] == run) & (table["metric"] == "loss")]["step"]) == {0}
    # the sweep: one step per batch, in the table but not among the learning curves
    sweep = table[(table["run"] == "sweep") & (table["metric"] == "learning_rate")]
    assert list(sweep["step"]) == list(range(12))
    assert table.attrs["kinds"]["mix/sweep"] == "find-lr"
    assert "mix/sweep" not in table.attrs["diagnosis"] and "mix/plain" in table.attrs["diagnosis"]
    left = table.attrs["left_out"]
    assert len(left) == 4
    reasons = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in left}
    assert reasons["runs/mix/nomlflow"].startswith("has no MLflow run (trained with mlflow=False")
    assert reasons["runs/mix/notb"].startswith("has no tensorboard/ folder")
    assert reasons["runs/mix/cv"].startswith("a cross-validation parent")
    assert reasons["runs/mix/tune-random"].startswith("a tuning folder")

    report = tmp_path / "mix.html"
    assert cli(["compare", "mix", "--html", str(report), "--png", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "mix/killed did not finish (KILLED): compared as far as it got." in out
    assert "left out (4):\n  runs/mix/cv: a cross-validation parent" in out
    assert f"TensorBoard and MLflow agree: {len(table)} values in 9 run(s)." in out
    text = report.read_text()
    assert "<h2>Left out (4)</h2>" in text and "<li>mix/failed: FAILED</li>" in text
    # a folder with nothing comparable is one sentence, exit 2
    assert cli(["compare", "runs/mix/nomlflow"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo: error: Nothing to compare: runs/mix/nomlflow: has no MLflow run")
    assert err.count("\n") == 1
