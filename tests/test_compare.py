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
    for name in ("discover", "sides", "table", "plots", "report", "cli"):
        source = inspect.getsource(importlib.import_module(f"zoo.comparison.{name}"))
        imports = [line for line in source.splitlines() if line.lstrip().startswith("from zoo")]
        assert not any(" _" in line.split(" import ", 1)[1] for line in imports), name
